"""Each fault of the billing stand-in, switched on, observed on the wire and through the SDK.

Faults are set at `create_app` or at run time with `PUT /__sandbox/faults`; every test shows
the stand-in produced the fault (status, dropped socket, elapsed time, page content) and
what the official `stripe` SDK makes of it (exception class, retries).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import stripe

from sandbox.billing import create_app
from sandbox.billing.minimal_world import write_minimal_world
from sandbox.billing.serve import serve_in_thread

pytestmark = pytest.mark.integration

KEY = "sk_test_faults"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    world_dir = tmp_path_factory.mktemp("billing_faults")
    write_minimal_world(world_dir)
    return world_dir


@pytest.fixture
def server(world: Path) -> Iterator[str]:
    """A fresh app (fresh fault state) per test."""
    with serve_in_thread(create_app(world)) as url:
        yield url


def _set(url: str, faults: dict[str, Any]) -> dict[str, Any]:
    r = httpx.put(f"{url}/__sandbox/faults", json=faults)
    assert r.status_code == 200, r.text
    return r.json()


def _fired(url: str) -> dict[str, int]:
    return httpx.get(f"{url}/__sandbox/stats").json()["fired"]


def _sdk(url: str, retries: int = 0, timeout: float = 10) -> stripe.StripeClient:
    return stripe.StripeClient(
        KEY,
        base_addresses={"api": url},
        max_network_retries=retries,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


def _statuses(url: str, n: int, path: str = "/v1/customers?limit=1") -> list[int]:
    with httpx.Client(headers=AUTH) as http:
        return [http.get(url + path).status_code for _ in range(n)]


def test_faults_are_read_back_merged_and_switched_off_with_null(server: str) -> None:
    _set(server, {"seed": 3, "slow": {"delay_ms": 1}})
    merged = _set(server, {"rate_limit": {"count": 1}})
    assert merged == {"seed": 3, "slow": {"delay_ms": 1}, "rate_limit": {"count": 1}}
    assert _set(server, {"slow": None}) == {"seed": 3, "rate_limit": {"count": 1}}
    assert httpx.get(f"{server}/__sandbox/faults").json() == {
        "seed": 3,
        "rate_limit": {"count": 1},
    }


def test_unknown_fault_names_and_bad_values_are_refused(server: str, world: Path) -> None:
    r = httpx.put(f"{server}/__sandbox/faults", json={"gremlins": {}})
    assert r.status_code == 400 and "gremlins" in r.json()["error"]["message"]
    r = httpx.put(f"{server}/__sandbox/faults", json={"slow": {"probability": 2}})
    assert r.status_code == 400
    with pytest.raises(ValueError, match="gremlins"):
        create_app(world, {"gremlins": {}})


def test_rate_limit_answers_429_rate_limit_error_and_the_sdk_retries_it(server: str) -> None:
    _set(server, {"rate_limit": {"count": 2}})
    r = httpx.get(f"{server}/v1/customers", headers=AUTH)
    assert r.status_code == 429
    assert r.json()["error"]["type"] == "rate_limit_error"
    assert r.headers["stripe-should-retry"] == "true"
    with pytest.raises(stripe.RateLimitError):
        _sdk(server).v1.customers.list()
    _set(server, {"rate_limit": {"count": 2}})
    assert len(_sdk(server, retries=2).v1.customers.list({"limit": 3}).data) == 3
    assert _fired(server)["rate_limit"] == 4


def test_rate_limit_per_second_refuses_requests_beyond_the_budget(server: str) -> None:
    _set(server, {"rate_limit": {"per_second": 5}})
    start = time.monotonic()
    statuses = _statuses(server, 12)
    if time.monotonic() - start < 1.0:  # all inside one second: exactly 5 get through
        assert statuses.count(200) == 5
        assert statuses[:5] == [200] * 5
    assert statuses.count(429) >= 12 - 10
    time.sleep(1.05)
    assert _statuses(server, 1) == [200]


def test_server_errors_come_in_bursts_and_the_sdk_raises_api_error_or_retries(
    server: str,
) -> None:
    _set(server, {"server_errors": {"every": 5, "burst": 2, "status": 503}})
    assert _statuses(server, 10) == [503, 503, 200, 200, 200] * 2
    r = httpx.get(f"{server}/v1/charges", headers=AUTH)  # the next period starts failing
    assert (r.status_code, r.json()["error"]["type"]) == (503, "api_error")
    _set(server, {"server_errors": {"count": 1}})
    with pytest.raises(stripe.APIError) as err:
        _sdk(server).v1.charges.list()
    assert err.value.http_status == 500
    assert err.value.json_body["error"]["type"] == "api_error"
    _set(server, {"server_errors": {"count": 2}})
    assert _sdk(server, retries=2).v1.charges.list({"limit": 1}).data


def test_probabilistic_faults_repeat_exactly_for_the_same_seed(world: Path) -> None:
    faults = {"seed": 11, "server_errors": {"probability": 0.3}}
    runs = []
    for _ in range(2):
        with serve_in_thread(create_app(world, faults)) as url:
            runs.append(_statuses(url, 30))
    assert runs[0] == runs[1]
    assert 0 < runs[0].count(500) < 30
    with serve_in_thread(create_app(world, {**faults, "seed": 12})) as url:
        assert _statuses(url, 30) != runs[0]


def test_paths_narrow_a_fault_to_one_endpoint(server: str) -> None:
    _set(server, {"server_errors": {"paths": ["/v1/charges"]}})
    assert _statuses(server, 2, "/v1/charges") == [500, 500]
    assert _statuses(server, 2, "/v1/customers") == [200, 200]


def test_slow_responses_take_at_least_the_delay(server: str) -> None:
    _set(server, {"slow": {"delay_ms": 300}})
    start = time.monotonic()
    assert _sdk(server).v1.customers.list({"limit": 1}).data
    assert time.monotonic() - start >= 0.3


def test_timeout_holds_the_request_past_the_client_timeout(server: str) -> None:
    _set(server, {"timeout": {"seconds": 20, "count": 1}})
    start = time.monotonic()
    with pytest.raises(stripe.APIConnectionError):
        _sdk(server, timeout=0.5).v1.customers.list()
    elapsed = time.monotonic() - start
    assert 0.5 <= elapsed < 5
    assert _fired(server)["timeout"] == 1
    # the held request let go when the client hung up; the next one is answered at once
    start = time.monotonic()
    assert _sdk(server, timeout=0.5).v1.customers.list({"limit": 1}).data
    assert time.monotonic() - start < 0.5


def test_timeout_then_retry_succeeds_with_the_sdk(server: str) -> None:
    _set(server, {"timeout": {"seconds": 20, "count": 1}})
    client = _sdk(server, retries=2, timeout=0.5)
    assert client.v1.customers.list({"limit": 2}).data


def test_held_post_is_answered_after_the_delay_with_its_body_intact(server: str) -> None:
    _set(server, {"timeout": {"seconds": 0.3, "methods": ["POST"], "count": 1}})
    r = httpx.post(
        f"{server}/v1/customers", headers=AUTH, data={"email": "late@example.test"}, timeout=5
    )
    assert r.status_code == 200 and r.json()["email"] == "late@example.test"


def test_dropped_connection_gets_no_response_and_the_sdk_retries(server: str) -> None:
    _set(server, {"drop_connection": {"count": 1}})
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{server}/v1/customers", headers=AUTH)
    _set(server, {"drop_connection": {"count": 1}})
    with pytest.raises(stripe.APIConnectionError) as err:
        _sdk(server).v1.customers.list()
    assert err.value.should_retry is True
    _set(server, {"drop_connection": {"count": 2}})
    assert _sdk(server, retries=2).v1.customers.list({"limit": 1}).data
    assert _fired(server)["drop_connection"] == 4


def test_dropped_response_after_a_write_is_replayed_by_the_idempotency_key(
    server: str, world: Path
) -> None:
    """The write happens, its response is lost; the SDK's retry (same key) gets the replay."""
    _set(server, {"drop_connection": {"count": 1, "after": True, "methods": ["POST"]}})
    email = "lost-response@example.test"
    customer = _sdk(server, retries=2).v1.customers.create({"email": email})
    assert _fired(server)["drop_connection"] == 1
    assert customer.last_response.headers["Idempotent-Replayed"] == "true"
    con = sqlite3.connect(world / "billing.sqlite")
    try:
        rows = con.execute(
            "SELECT id FROM objects WHERE object = 'customer' "
            "AND json_extract(body, '$.email') = ?",
            (email,),
        ).fetchall()
    finally:
        con.close()
    assert rows == [(customer.id,)]  # written once


def _event_pages(url: str, limit: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = None
    with httpx.Client(headers=AUTH) as http:
        while True:
            params: dict[str, Any] = {"limit": limit}
            if after:
                params["starting_after"] = after
            page = http.get(f"{url}/v1/events", params=params).json()
            out.extend(page["data"])
            if not page["has_more"]:
                return out
            after = page["data"][-1]["id"]


def test_duplicate_events_repeat_some_events_and_lose_none(server: str) -> None:
    clean = _event_pages(server, 7)
    _set(server, {"seed": 5, "duplicate_events": {"rate": 0.3}})
    dup = _event_pages(server, 7)
    ids = [e["id"] for e in dup]
    assert len(ids) > len(clean)
    assert set(ids) == {e["id"] for e in clean}
    repeated = {i for i in ids if ids.count(i) > 1}
    assert repeated and _fired(server)["duplicate_events"] == len(ids) - len(clean)
    assert [e["id"] for e in _event_pages(server, 7)] == ids  # deterministic


def test_out_of_order_events_break_newest_first_but_keep_every_event(server: str) -> None:
    clean = _event_pages(server, 10)
    _set(server, {"seed": 2, "out_of_order_events": {"rate": 0.3}})
    shuffled = _event_pages(server, 10)
    created = [e["created"] for e in shuffled]
    assert any(a < b for a, b in zip(created, created[1:], strict=False))
    assert sorted(e["id"] for e in shuffled) == sorted(e["id"] for e in clean)
    assert _fired(server)["out_of_order_events"] > 0


def test_out_of_order_events_keep_the_sdk_pager_complete(server: str) -> None:
    _set(
        server, {"seed": 4, "out_of_order_events": {"rate": 0.5}, "duplicate_events": {"rate": 0.2}}
    )
    ids = [e.id for e in _sdk(server).v1.events.list({"limit": 6}).auto_paging_iter()]
    _set(server, {"out_of_order_events": None, "duplicate_events": None})
    clean = [e.id for e in _sdk(server).v1.events.list({"limit": 6}).auto_paging_iter()]
    assert set(ids) == set(clean) and ids != clean


def test_malformed_records_miss_required_fields_in_a_page(server: str) -> None:
    _set(server, {"seed": 1, "malformed_records": {"rate": 0.4, "objects": ["charge"]}})
    with httpx.Client(headers=AUTH) as http:
        page = http.get(f"{server}/v1/charges", params={"limit": 100}).json()["data"]
        again = http.get(f"{server}/v1/charges", params={"limit": 100}).json()["data"]
        customers = http.get(f"{server}/v1/customers", params={"limit": 100}).json()["data"]
    broken = [c["id"] for c in page if "created" not in c]
    assert broken and len(broken) < len(page)
    for c in page:
        if c["id"] in broken:
            assert "amount" not in c and "currency" not in c
    assert broken == [c["id"] for c in again if "created" not in c]  # same records each time
    assert all("created" in c for c in customers)  # only the objects named
    sdk_page = _sdk(server).v1.charges.list({"limit": 100})
    assert any("created" not in c for c in sdk_page.data)


def test_faults_set_at_create_app_apply_from_the_first_request(world: Path) -> None:
    with serve_in_thread(create_app(world, {"rate_limit": {"count": 1}})) as url:
        assert _statuses(url, 2) == [429, 200]
        assert orjson.loads(httpx.get(f"{url}/__sandbox/faults").content) == {
            "rate_limit": {"count": 1}
        }
