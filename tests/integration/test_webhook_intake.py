"""The webhook intake app over real HTTP (uvicorn in a thread): verified events land once,
refusals answer 400 and are counted."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from extractors.billing.webhooks import intake_counts
from orchestration.webhook_app import PATH, IntakeConfig, create_app
from q2c.warehouse import Warehouse
from sandbox.billing.serve import serve_in_thread
from sandbox.billing.webhook_sender import signature_header

pytestmark = pytest.mark.integration

SECRET = "whsec_unit_intake_secret"


def event(event_id: str, customer: str = "cus_1") -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": "customer.updated",
            "created": 1_700_000_000,
            "data": {"object": {"id": customer, "object": "customer"}},
        }
    ).encode()


@pytest.fixture
def intake(tmp_path: Path) -> Iterator[tuple[httpx.Client, str]]:
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    app = create_app(IntakeConfig(warehouse_url=url, secrets=[SECRET], tolerance_s=300))
    with serve_in_thread(app) as base, httpx.Client(base_url=base, trust_env=False) as client:
        yield client, url


def post(client: httpx.Client, body: bytes, *, secret: str = SECRET, at: int | None = None):
    header = signature_header(body, [secret], int(time.time()) if at is None else at)
    return client.post(PATH, content=body, headers={"Stripe-Signature": header})


def inbox(url: str) -> list[tuple[str, str]]:
    with Warehouse.from_url(url) as wh:
        return wh.fetchall(
            "select object_id, provider_ref from raw.billing__webhook_event order by object_id"
        )


def test_a_signed_event_lands_in_the_inbox_with_its_provider_ref(
    intake: tuple[httpx.Client, str],
) -> None:
    client, url = intake
    now = int(time.time())
    response = post(client, event("evt_a"), at=now)
    assert (response.status_code, response.json()) == (200, {"received": True})
    assert inbox(url) == [("evt_a", f"webhook:{now}")]
    with Warehouse.from_url(url) as wh:
        (payload,) = wh.fetchone("select cast(payload as text) from raw.billing__webhook_event")
    assert json.loads(payload) == json.loads(event("evt_a"))


def test_a_re_delivered_event_answers_2xx_and_lands_once_a_replay_answers_400(
    intake: tuple[httpx.Client, str],
) -> None:
    client, url = intake
    body = event("evt_dup")
    now = int(time.time())
    first = post(client, body, at=now - 10)
    again = post(client, body, at=now)  # Stripe's re-delivery: signed anew, the same event
    header = first.request.headers["Stripe-Signature"]
    replay = client.post(PATH, content=body, headers={"Stripe-Signature": header})
    assert first.json() == {"received": True}
    assert (again.status_code, again.json()) == (200, {"received": True, "duplicate": True})
    assert (replay.status_code, replay.json()) == (400, {"error": "replayed_request"})
    assert inbox(url) == [("evt_dup", f"webhook:{now - 10}")]
    with Warehouse.from_url(url) as wh:
        assert intake_counts(wh) == {
            "stored": {"": 1},
            "duplicate": {"": 1},
            "refused": {"replayed_request": 1},
        }


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing_signature"),
        ({"Stripe-Signature": "v1=abc"}, "malformed_signature"),
        ({"Stripe-Signature": "t=1,v0=abc"}, "no_v1_signature"),
    ],
)
def test_a_request_without_a_usable_signature_is_refused(
    intake: tuple[httpx.Client, str], headers: dict[str, str], reason: str
) -> None:
    client, url = intake
    response = client.post(PATH, content=event("evt_x"), headers=headers)
    assert (response.status_code, response.json()) == (400, {"error": reason})
    with Warehouse.from_url(url) as wh:
        assert intake_counts(wh) == {"refused": {reason: 1}}
        assert not wh.table_exists("raw", "billing__webhook_event")


def test_bad_signatures_and_stale_timestamps_answer_400_land_nothing_and_are_counted(
    intake: tuple[httpx.Client, str],
) -> None:
    client, url = intake
    assert post(client, event("evt_b"), secret="whsec_wrong").status_code == 400
    assert post(client, event("evt_c"), at=int(time.time()) - 301).status_code == 400
    tampered = post(client, event("evt_d"))
    assert tampered.status_code == 200
    header = tampered.request.headers["Stripe-Signature"]
    forged = client.post(PATH, content=event("evt_e"), headers={"Stripe-Signature": header})
    assert (forged.status_code, forged.json()) == (400, {"error": "bad_signature"})
    assert [r[0] for r in inbox(url)] == ["evt_d"]
    with Warehouse.from_url(url) as wh:
        assert intake_counts(wh) == {
            "refused": {"bad_signature": 2, "stale_timestamp": 1},
            "stored": {"": 1},
        }
    assert client.get("/metrics").json() == {
        "refused": {"bad_signature": 2, "stale_timestamp": 1},
        "stored": {"": 1},
    }


def test_a_signed_body_that_is_not_an_event_is_refused_and_quarantined(
    intake: tuple[httpx.Client, str],
) -> None:
    client, url = intake
    response = post(client, b'{"object":"customer","id":"cus_1"}')
    assert (response.status_code, response.json()) == (400, {"error": "malformed_body"})
    with Warehouse.from_url(url) as wh:
        rows = wh.fetchall("select source, object, reason, raw from ops.quarantine")
        assert intake_counts(wh) == {"refused": {"malformed_body": 1}}
    ((source, obj, reason, raw),) = rows
    assert (source, obj, reason) == (
        "billing",
        "webhook_event",
        "webhook body: body is not an event object",
    )
    assert json.loads(raw) == {"object": "customer", "id": "cus_1"}


def test_the_secret_never_appears_in_answers_logs_or_the_warehouse(
    intake: tuple[httpx.Client, str], caplog: pytest.LogCaptureFixture
) -> None:
    client, url = intake
    caplog.set_level("DEBUG")
    answers = [post(client, event("evt_s")).text, post(client, event("evt_t"), secret="x").text]
    with Warehouse.from_url(url) as wh:
        stored = str(wh.fetchall("select * from raw.billing__webhook_event"))
        stored += str(wh.fetchall("select * from ops.webhook_intake"))
    assert SECRET not in "".join(answers) + caplog.text + stored
    assert SECRET not in repr(IntakeConfig(warehouse_url=url, secrets=[SECRET]))


def test_q2c_webhooks_serve_runs_verifies_and_status_reports_its_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "Q2C_HOME": str(tmp_path / "home"),
        "Q2C_BILLING_WEBHOOK_SECRETS": f"whsec_old_one,{SECRET}",
    }
    env.pop("Q2C_WAREHOUSE_URL", None)
    q2c = [sys.executable, "-m", "orchestration.cli", "webhooks"]
    server = subprocess.Popen(
        [*q2c, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=base, trust_env=False) as client:
            while True:
                try:
                    if client.get("/healthz").text == "ok":
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
            assert post(client, event("evt_cli")).json() == {"received": True}
            assert post(client, event("evt_cli2"), secret="whsec_nope").status_code == 400
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    assert SECRET.encode() not in stderr
    # `q2c webhooks status --json` in this process (the CLI's import is the slow part)
    from orchestration.cli import app

    monkeypatch.setenv("Q2C_HOME", env["Q2C_HOME"])
    monkeypatch.delenv("Q2C_WAREHOUSE_URL", raising=False)
    capfd.readouterr()
    with pytest.raises(SystemExit) as done:
        app(["webhooks", "status", "--json"], prog_name="q2c")
    assert done.value.code in (0, None)
    assert json.loads(capfd.readouterr().out) == {
        "counts": {"stored": {"": 1}, "refused": {"bad_signature": 1}},
        "pending": 1,
    }
