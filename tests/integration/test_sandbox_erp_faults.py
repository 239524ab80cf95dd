"""Each ERP (and VIES) fault switched on at run time, and the stand-in shown to produce it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest

from sandbox.erp.faults import DEFAULTS
from sandbox.services import RunningSandbox, start_services
from tests.support.sandbox import build_tiny_erp_world

pytestmark = pytest.mark.integration

Q = {"q": "SELECT id, foreigntotal, trandate FROM transaction ORDER BY id"}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    root = tmp_path_factory.mktemp("erp_faults")
    world = build_tiny_erp_world(root / "world", invoices=40)
    with start_services(world, None, root / "state", services=("erp",)) as sandbox:
        yield sandbox


@pytest.fixture
def erp(running: RunningSandbox) -> Iterator[RunningSandbox]:
    running.set_faults("erp", DEFAULTS)
    yield running
    running.set_faults("erp", DEFAULTS)


def suiteql(sandbox: RunningSandbox, timeout: float = 10.0) -> httpx.Response:
    return httpx.post(
        sandbox.env["Q2C_ERP_BASE_URL"] + "/services/rest/query/v1/suiteql",
        json=Q,
        params={"limit": 10},
        headers={"Authorization": f"Bearer {sandbox.env['Q2C_ERP_TOKEN']}", "Prefer": "transient"},
        timeout=timeout,
    )


def counts(sandbox: RunningSandbox) -> dict[str, int]:
    return httpx.get(sandbox.env["Q2C_ERP_BASE_URL"] + "/__sandbox/fault-counts").json()


def test_no_faults_answers_200(erp: RunningSandbox) -> None:
    r = suiteql(erp)
    assert r.status_code == 200 and "x-sandbox-fault" not in r.headers


def test_rate_limit_answers_429_with_retry_after(erp: RunningSandbox) -> None:
    erp.set_faults("erp", {"rate_limit": 1.0})
    r = suiteql(erp)
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert r.json()["o:errorDetails"][0]["o:errorCode"] == "CONCURRENCY_LIMIT_EXCEEDED"
    assert r.headers["x-sandbox-fault"] == "rate_limit"


def test_server_error_answers_500_unexpected_error(erp: RunningSandbox) -> None:
    erp.set_faults("erp", {"server_error": 1.0})
    r = suiteql(erp)
    assert r.status_code == 500
    assert r.json()["o:errorDetails"][0]["o:errorCode"] == "UNEXPECTED_ERROR"


def test_server_error_burst_fails_exactly_n_requests_then_recovers(erp: RunningSandbox) -> None:
    erp.set_faults("erp", {"server_error_burst": 3})
    statuses = [suiteql(erp).status_code for _ in range(5)]
    assert statuses == [503, 503, 503, 200, 200]
    assert erp.get_faults("erp")["server_error_burst"] == 0


def test_slow_ms_delays_every_response(erp: RunningSandbox) -> None:
    erp.set_faults("erp", {"slow_ms": 400})
    started = time.monotonic()
    assert suiteql(erp).status_code == 200
    assert time.monotonic() - started >= 0.4


def test_timeout_makes_a_client_with_a_short_timeout_give_up(erp: RunningSandbox) -> None:
    erp.set_faults("erp", {"timeout": 1.0, "timeout_s": 1.0})
    with pytest.raises(httpx.ReadTimeout):
        suiteql(erp, timeout=0.3)
    erp.set_faults("erp", {"timeout": 0.0})
    assert counts(erp)["timeout"] >= 1
    time.sleep(1.0)  # let the abandoned request finish before the next test rolls its dice


def test_drop_connection_cuts_the_response_short(erp: RunningSandbox) -> None:
    erp.set_faults("erp", {"drop_connection": 1.0})
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):  # cut or reset
        suiteql(erp)
    erp.set_faults("erp", {"drop_connection": 0.0})
    assert suiteql(erp).status_code == 200


def test_malformed_rows_corrupt_values_in_the_page(erp: RunningSandbox) -> None:
    erp.set_faults("erp", {"malformed_rows": 1.0})
    r = suiteql(erp)
    assert r.status_code == 200 and r.headers["x-sandbox-fault"] == "malformed_rows"
    items = r.json()["items"]
    assert all(i["foreigntotal"] == "#VALUE!" and i["trandate"] == "#VALUE!" for i in items)


def test_malformed_rows_at_a_rate_corrupts_only_some_rows(erp: RunningSandbox) -> None:
    erp.set_faults("erp", {"malformed_rows": 0.3, "seed": 11})
    items = suiteql(erp).json()["items"]
    bad = [i for i in items if i["foreigntotal"] == "#VALUE!"]
    assert 0 < len(bad) < len(items)


def test_expired_token_refuses_a_valid_token_with_401(erp: RunningSandbox) -> None:
    erp.set_faults("erp", {"expired_token": 1.0})
    r = suiteql(erp)
    assert r.status_code == 401 and r.headers["x-sandbox-fault"] == "expired_token"
    assert r.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"


def test_late_update_edits_a_served_row_behind_the_newest_stamp(erp: RunningSandbox) -> None:
    def query(q: str) -> httpx.Response:
        return httpx.post(
            erp.env["Q2C_ERP_BASE_URL"] + "/services/rest/query/v1/suiteql",
            json={"q": q},
            headers={"Authorization": f"Bearer {erp.env['Q2C_ERP_TOKEN']}", "Prefer": "transient"},
        )

    newest_q = "SELECT MAX(lastmodifieddate) AS m FROM transaction"
    newest = query(newest_q).json()["items"][0]["m"]
    erp.set_faults("erp", {"late_update": 1.0, "late_update_lag_s": 7200})
    page = suiteql(erp)
    assert page.headers["x-sandbox-fault"] == "late_update"
    erp.set_faults("erp", {"late_update": 0.0})
    served = {i["id"] for i in page.json()["items"]}
    # a plain timestamp column answers in the date preference, date only: TO_CHAR keeps time
    edited = query(
        "SELECT id, TO_CHAR(lastmodifieddate, 'YYYY-MM-DD\"T\"HH24:MI:SS') AS lastmodifieddate"
        " FROM transaction WHERE memo LIKE '%(edited)'"
    ).json()["items"]
    assert len(edited) == 1 and edited[0]["id"] in served
    newest_dt = datetime.strptime(newest, "%Y-%m-%dT%H:%M:%SZ")
    expected = (newest_dt - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S")
    assert edited[0]["lastmodifieddate"] == expected
    # a strict `>` cursor at the newest stamp misses the edit; the world did not move on
    assert query(newest_q).json()["items"][0]["m"] == newest


def test_vies_unavailable_answers_ms_unavailable(erp: RunningSandbox) -> None:
    erp.set_faults("erp", {"vies_unavailable": 1.0})
    r = httpx.post(
        erp.env["Q2C_VIES_URL"] + "/check-vat-number",
        json={"countryCode": "NL", "vatNumber": "004495445B01"},
    )
    assert r.status_code == 503
    assert r.json()["errorWrappers"][0]["error"] == "MS_UNAVAILABLE"


def test_faults_set_at_start_are_in_force(tmp_path) -> None:
    world = build_tiny_erp_world(tmp_path / "world", invoices=5)
    with start_services(
        world, {"erp": {"rate_limit": 1.0}}, tmp_path / "state", services=("erp",)
    ) as sandbox:
        assert suiteql(sandbox).status_code == 429


def test_unknown_fault_names_and_bad_values_are_refused(erp: RunningSandbox) -> None:
    with pytest.raises(ValueError, match="unknown ERP fault"):
        erp.set_faults("erp", {"meteor_strike": 1.0})
    with pytest.raises(ValueError, match="probability"):
        erp.set_faults("erp", {"rate_limit": 2})
    assert erp.get_faults("erp") == DEFAULTS


def test_same_seed_gives_the_same_fault_sequence(erp: RunningSandbox) -> None:
    def run() -> list[int]:
        erp.set_faults("erp", {"server_error": 0.5, "seed": 3})
        return [suiteql(erp).status_code for _ in range(12)]

    first, second = run(), run()
    assert first == second and {200, 500} <= set(first)
