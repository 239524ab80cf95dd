"""Concurrent billing listing (`BillingExtractor.extract_objects`) against the real stand-in.

On one S world served with the provider's ceiling (100 requests per rolling second, 429 above):
the endpoints read at once, long lists split into `created` windows (small windows here, so
that the S world's longer lists split), landed by one writer, land exactly the rows, versions
and cursors a one-at-a-time listing lands; paced under the ceiling they meet no 429; a full
re-list afterwards does not list the balance transactions of payouts that are final and landed
already.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from extractors.billing import (
    LISTED_OBJECTS,
    BillingClient,
    BillingCredentials,
    BillingExtractor,
    ExtractResult,
)
from q2c.landing import get_cursor
from q2c.warehouse import Warehouse
from tests.integration.test_extract_billing import FAST_RETRY, table_fingerprint

pytestmark = pytest.mark.integration

CEILING = 100  # sandbox/faults.py provider_limits: Stripe's live-mode read rate
SETTLED = "billing__payout_balance_transaction"
PACE = 80  # the client's pace: a margin for threads that wake late on a loaded machine


@dataclass
class Listed:
    results: list[ExtractResult]
    fingerprint: dict[str, set[tuple[str, str, bool]]]
    cursors: dict[str, str | None]
    api_calls: int
    rate_limited: int  # 429s the stand-in answered during the run


@pytest.fixture(scope="module")
def limited_billing(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The billing stand-in over the shared S world (read only) at the provider's ceiling."""
    from sandbox.services import start_services

    sandbox = start_services(
        world_s, None, tmp_path_factory.mktemp("limited_state"), services=("billing",)
    )
    sandbox.set_faults("billing", {"rate_limit": {"per_second": CEILING}})
    try:
        yield sandbox
    finally:
        sandbox.stop()


def _rate_limited(env: dict[str, str]) -> int:
    base = env["Q2C_BILLING_API_BASE"].rstrip("/")
    return int(httpx.get(f"{base}/__sandbox/stats").json()["fired"].get("rate_limit", 0))


def _list(
    sandbox: object, wh_url: str, *, workers: int, rps: float | None, mode: str = "incremental"
) -> Listed:
    """List every object with `workers` threads (1: one request at a time, no windows)."""
    env = dict(sandbox.env)  # type: ignore[attr-defined]
    client = BillingClient(
        BillingCredentials(env["Q2C_BILLING_API_BASE"], env["Q2C_BILLING_API_KEY"]),
        FAST_RETRY,
        max_requests_per_second=rps,
    )
    limited0 = _rate_limited(env)
    with (
        Warehouse.from_url(wh_url) as wh,
        BillingExtractor(
            client,
            wh,
            run_id=f"{workers}-{mode}",
            batch_size=500,
            list_workers=workers,
            child_workers=workers,
            queue_pages=workers,
            split_pages=3,
        ) as extractor,
    ):
        results = extractor.extract_objects(LISTED_OBJECTS, mode=mode)  # type: ignore[arg-type]
        return Listed(
            results,
            table_fingerprint(wh),
            {n: get_cursor(wh, "billing", n) for n in LISTED_OBJECTS},
            client.api_calls,
            _rate_limited(env) - limited0,
        )


@pytest.fixture(scope="module")
def one_at_a_time(limited_billing: object, tmp_path_factory: pytest.TempPathFactory) -> Listed:
    wh_url = f"duckdb:///{tmp_path_factory.mktemp('sequential') / 'wh.duckdb'}"
    return _list(limited_billing, wh_url, workers=1, rps=PACE)


@pytest.fixture(scope="module")
def concurrent_wh(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"duckdb:///{tmp_path_factory.mktemp('concurrent') / 'wh.duckdb'}"


@pytest.fixture(scope="module")
def concurrent(limited_billing: object, concurrent_wh: str) -> Listed:
    return _list(limited_billing, concurrent_wh, workers=6, rps=PACE)


def test_concurrent_listing_lands_exactly_what_the_one_at_a_time_listing_lands(
    one_at_a_time: Listed, concurrent: Listed
) -> None:
    assert concurrent.fingerprint == one_at_a_time.fingerprint
    assert sum(len(rows) for rows in concurrent.fingerprint.values()) > 20_000
    assert concurrent.cursors == one_at_a_time.cursors
    assert all(c is not None for c in concurrent.cursors.values() if c != "credit_note")


def test_each_object_reports_its_own_calls_and_counts_as_when_listed_alone(
    one_at_a_time: Listed, concurrent: Listed
) -> None:
    def figures(listed: Listed) -> dict[str, tuple[int, int, int, bool]]:
        return {r.name: (r.landed, r.duplicates, r.quarantined, r.complete) for r in listed.results}

    assert figures(concurrent) == figures(one_at_a_time)
    assert sum(r.api_requests for r in concurrent.results) == concurrent.api_calls
    alone = {r.name: r.api_requests for r in one_at_a_time.results}
    split = {r.name for r in concurrent.results if r.api_requests > alone[r.name]}
    # windows: the probes for the oldest `created` and a partial last page per window
    assert "balance_transaction" in split
    assert [r.name for r in concurrent.results] == list(LISTED_OBJECTS)


def test_paced_under_the_ceiling_the_concurrent_listing_meets_no_429(concurrent: Listed) -> None:
    assert concurrent.api_calls > 1_000  # payouts' balance transactions, from several threads
    assert concurrent.rate_limited == 0
    assert sum(r.retries for r in concurrent.results) == 0


def test_a_full_relist_skips_the_balance_transactions_of_settled_payouts(
    limited_billing: object, concurrent_wh: str, concurrent: Listed
) -> None:
    # One thread, no windows: the payouts' list requests are their pages.
    relist = _list(limited_billing, concurrent_wh, workers=1, rps=PACE, mode="full")
    by_name = {r.name: r for r in relist.results}
    payouts = {oid for oid, _, _ in concurrent.fingerprint["billing__payout"]}
    settled = {oid.split(":")[0] for oid, _, _ in concurrent.fingerprint[SETTLED]}
    assert 0 < len(settled) < len(payouts)
    # One request per page of payouts, and one per payout only where nothing landed before
    # (every payout is paid; an empty listing leaves no row to know it by).
    pages = -(-len(payouts) // 100)
    assert by_name["payout"].api_requests == pages + len(payouts - settled)
    assert sum(r.landed for r in relist.results) == 0
    assert relist.fingerprint == concurrent.fingerprint
