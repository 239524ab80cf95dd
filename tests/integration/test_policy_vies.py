"""The VIES adapter over real HTTP: the sandbox's VIES stand-in (served with uvicorn here) and
small Starlette apps that misbehave the way VIES does (member state down, bad answers)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from extractors.vies import HttpViesChecker
from q2c.compliance import ViesRejectedError, ViesUnavailableError, check_vat, evaluate
from q2c.policy import load_contract
from sandbox.vies import create_app
from tests.support.sandbox import TINY_INVALID_VAT, build_tiny_erp_world

pytestmark = pytest.mark.integration

VALID_DE = "DE811907980"  # passes stdnum; not in the tiny world's invalid set


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Serve `app` on a free loopback port in a thread; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_erp_world(tmp_path_factory.mktemp("vies_world"), customers=5, invoices=5)


def _checker(url: str, **kw: object) -> HttpViesChecker:
    return HttpViesChecker(url, attempts=3, wait_initial=0.01, wait_max=0.02, timeout=5, **kw)


def test_sandbox_vies_valid_unregistered_and_rejected(world: Path) -> None:
    with serve(create_app(world)) as url, _checker(url) as vies:
        ok = check_vat(VALID_DE, "DE", vies)
        assert (ok.status, ok.vies_valid) == ("valid", True)
        assert ok.vies_request_date == "2026-11-01T00:00:00.000Z"  # the world's clock
        unknown = check_vat(TINY_INVALID_VAT, "DE", vies)
        assert (unknown.status, unknown.checksum_valid) == ("vies_invalid", True)
        with pytest.raises(ViesRejectedError, match="INVALID_INPUT"):
            vies.check("US", "123456789")
        assert vies.requests == 3  # nothing retried


def test_member_state_down_becomes_vies_unavailable_after_retries(world: Path) -> None:
    app = create_app(world, faults={"vies_unavailable": 1.0})
    with serve(app) as url, _checker(url) as vies:
        result = check_vat(VALID_DE, "DE", vies)
        assert result.status == "vies_unavailable"
        assert vies.requests == 3
        decision = evaluate(
            load_contract(), {"vat": result.status}, "reverse_charge_invoicing", subject="customer"
        )
        assert not decision.allowed
        assert "retried automatically" in decision.blocks[0].next_step


def _flaky_app(failures: int, error_body: dict, status: int) -> tuple[Starlette, list[dict]]:
    seen: list[dict] = []

    async def check(request: Request) -> JSONResponse:
        seen.append(await request.json())
        if len(seen) <= failures:
            return JSONResponse(error_body, status_code=status)
        body = seen[-1]
        return JSONResponse(
            {
                **body,
                "requestDate": "2026-11-01T00:00:00.000Z",
                "valid": True,
                "name": "ACME GMBH",
                "address": "HAUPTSTR 1, BERLIN",
            }
        )

    return Starlette(routes=[Route("/check-vat-number", check, methods=["POST"])]), seen


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"actionSucceed": False, "errorWrappers": [{"error": "MS_MAX_CONCURRENT_REQ"}]}, 200),
        ({"actionSucceed": False, "errorWrappers": [{"error": "SERVICE_UNAVAILABLE"}]}, 503),
        ({"message": "rate limited"}, 429),
    ],
)
def test_transient_vies_errors_are_retried_until_an_answer(body: dict, status: int) -> None:
    app, seen = _flaky_app(2, body, status)
    with serve(app) as url, _checker(url) as vies:
        result = check_vat("DE 811 907 980", "DE", vies)
    assert result.status == "valid"
    assert (result.vies_name, result.vies_address) == ("ACME GMBH", "HAUPTSTR 1, BERLIN")
    assert seen == [{"countryCode": "DE", "vatNumber": "811907980"}] * 3


def test_an_answer_without_valid_is_never_read_as_valid() -> None:
    async def check(request: Request) -> JSONResponse:
        return JSONResponse({"countryCode": "DE", "vatNumber": "811907980"})

    app = Starlette(routes=[Route("/check-vat-number", check, methods=["POST"])])
    with serve(app) as url, _checker(url) as vies, pytest.raises(ViesUnavailableError):
        vies.check("DE", "811907980")


def test_connection_refused_is_unavailable_not_a_crash() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens here now
    with _checker(f"http://127.0.0.1:{port}") as vies:
        assert check_vat(VALID_DE, "DE", vies).status == "vies_unavailable"
        assert vies.requests == 3


def test_from_env_uses_q2c_vies_url() -> None:
    checker = HttpViesChecker.from_env({"Q2C_VIES_URL": "http://127.0.0.1:9/vies/"})
    assert checker.url == "http://127.0.0.1:9/vies/check-vat-number"
    assert HttpViesChecker.from_env({}).url.startswith("https://ec.europa.eu/")


def test_world_eu_customers_vat_status_finds_exactly_the_injected_invalid_ones(
    world_s: Path,
) -> None:
    """Every EU VAT id of the S world through stdnum + the VIES stand-in: the customers not
    `valid` are exactly the world's `invalid_eu_vat` discrepancies."""
    import json
    import sqlite3

    with sqlite3.connect(world_s / "truth.sqlite") as conn:
        expected = {
            json.loads(ids)["customer"]
            for (ids,) in conn.execute(
                "select object_ids from discrepancies where kind = 'invalid_eu_vat'"
            )
        }
    with sqlite3.connect(world_s / "billing.sqlite") as conn:
        customers = [
            json.loads(b)
            for (b,) in conn.execute(
                "select body from objects where object = 'customer' and deleted = 0"
            )
        ]
    checked, not_valid = 0, {}
    with serve(create_app(world_s)) as url, _checker(url) as vies:
        for customer in customers:
            for tax_id in customer["tax_ids"]["data"]:
                if tax_id["type"] != "eu_vat":
                    continue
                result = check_vat(tax_id["value"], customer["address"]["country"], vies)
                checked += 1
                if result.status != "valid":
                    not_valid[customer["id"]] = result.status
    assert checked >= 20 and expected
    assert set(not_valid) == expected
    assert set(not_valid.values()) <= {"invalid_checksum", "vies_invalid", "invalid_format"}
