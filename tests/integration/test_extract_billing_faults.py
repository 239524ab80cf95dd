"""Billing extraction under faults: rate limits, 5xx bursts, dropped connections, timeouts,
duplicate and out-of-order events, malformed records, bad keys, and a SIGKILL mid-landing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from extractors.billing import BillingClient, BillingCredentials, extract_billing
from extractors.errors import AuthError
from q2c.warehouse import Warehouse
from tests.integration.test_extract_billing import (
    FAST_RETRY,
    landed_live,
    run_billing,
    table_fingerprint,
    truth_counts,
    world_listing,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

TRANSPORT_FAULTS = {
    "rate_limit": {"probability": 0.08},
    "server_errors": {"every": 23, "burst": 3, "status": 503},
    "drop_connection": {"probability": 0.04},
    "duplicate_events": {"rate": 0.2},
    "out_of_order_events": {"rate": 0.2},
    "seed": 11,
}
#: Events (duplicates, out of order), parents with children, and plain lists; payouts are left
#: to the story test (one request per payout makes them the slowest object).
OBJECTS = ("event", "customer", "subscription", "invoice", "charge", "balance_transaction")
#: About 20 landing transactions of 500 rows: the kill lands in the middle of the invoices.
KILL_OBJECTS = ("event", "customer", "invoice", "charge")


@pytest.fixture(scope="module")
def faulty_billing(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The billing stand-in over the shared S world (read only), faults switched per test."""
    from sandbox.services import start_services

    sandbox = start_services(
        world_s, None, tmp_path_factory.mktemp("faulty_state"), services=("billing",)
    )
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def faults(faulty_billing: object) -> Iterator[object]:
    yield faulty_billing
    off: dict[str, object] = {
        name: None for name in (*TRANSPORT_FAULTS, "malformed_records", "timeout") if name != "seed"
    }
    faulty_billing.set_faults("billing", {**off, "seed": 0})  # type: ignore[attr-defined]


def test_with_transport_and_event_faults_the_landed_data_still_equals_the_world(
    world_s: Path, faults: object, tmp_path: Path
) -> None:
    faults.set_faults("billing", TRANSPORT_FAULTS)  # type: ignore[attr-defined]
    env = faults.env  # type: ignore[attr-defined]
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    results = run_billing(env, url, "faulty-1", objects=OBJECTS)
    assert sum(r.retries for r in results) > 0, "no fault fired: the test proves nothing"
    listing = world_listing(world_s)
    tables = (*OBJECTS, "subscription_item", "line_item")
    with Warehouse.from_url(url) as wh:
        for obj in tables:
            assert landed_live(wh, obj) == listing[obj], obj
        counts = truth_counts(world_s)
        assert {o: len(landed_live(wh, o)) for o in tables} == {o: counts[o] for o in tables}
    again = run_billing(env, url, "faulty-2", objects=OBJECTS)
    assert sum(r.landed for r in again) == 0


def test_a_request_that_times_out_is_retried(faults: object, tmp_path: Path) -> None:
    faults.set_faults(  # type: ignore[attr-defined]
        "billing", {"timeout": {"count": 2, "seconds": 30, "paths": ["/v1/coupons"]}}
    )
    results = run_billing(
        faults.env,  # type: ignore[attr-defined]
        f"duckdb:///{tmp_path / 'wh.duckdb'}",
        "t",
        objects=("coupon",),
        retry=replace(FAST_RETRY, timeout=0.5),
    )
    assert results[0].retries >= 2 and results[0].complete


def test_malformed_records_are_quarantined_with_the_reason_and_the_run_goes_on(
    world_s: Path, faults: object, tmp_path: Path
) -> None:
    faults.set_faults(  # type: ignore[attr-defined]
        "billing", {"malformed_records": {"rate": 0.1, "objects": ["charge"]}, "seed": 5}
    )
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    results = run_billing(faults.env, url, "m", objects=("charge", "customer"))  # type: ignore[attr-defined]
    charges = world_listing(world_s)["charge"]
    with Warehouse.from_url(url) as wh:
        reasons = wh.fetchall(
            "select reason, count(*) from ops.quarantine where object = 'charge' group by 1"
        )
        landed = landed_live(wh, "charge")
        customers = landed_live(wh, "customer")
    quarantined = sum(n for _, n in reasons)
    assert quarantined > 0
    assert all("missing" in reason for reason, _ in reasons)
    assert results[0].quarantined == quarantined
    assert len(landed) + quarantined == len(charges)
    assert all(landed[i] == charges[i] for i in landed)
    assert len(customers) == truth_counts(world_s)["customer"]


def test_a_refused_key_fails_the_run_with_what_to_do(faults: object, tmp_path: Path) -> None:
    client = BillingClient(
        BillingCredentials(faults.env["Q2C_BILLING_API_BASE"], "rk_wrong_key"),
        FAST_RETRY,  # type: ignore[attr-defined]
    )
    with (
        Warehouse.from_url(f"duckdb:///{tmp_path / 'wh.duckdb'}") as wh,
        pytest.raises(AuthError, match="What to do: check Q2C_BILLING_API_KEY"),
    ):
        extract_billing(client, wh, run_id="auth", objects=("customer",))


def test_a_run_killed_mid_landing_then_rerun_ends_with_the_same_tables(
    faults: object, tmp_path: Path
) -> None:
    env = faults.env  # type: ignore[attr-defined]
    clean_url = f"duckdb:///{tmp_path / 'clean.duckdb'}"
    killed_url = f"duckdb:///{tmp_path / 'killed.duckdb'}"
    run_billing(env, clean_url, "clean", objects=KILL_OBJECTS)
    script = textwrap.dedent(
        f"""
        import os, signal
        from q2c.warehouse import Warehouse
        from tests.integration.test_extract_billing import run_billing

        commits = 0
        real_commit = Warehouse._commit

        def commit_then_die(self):
            global commits
            commits += 1
            if commits == 12:  # inside the 12th landing transaction: rows written, no COMMIT
                os.kill(os.getpid(), signal.SIGKILL)
            real_commit(self)

        Warehouse._commit = commit_then_die
        run_billing({dict(env)!r}, {killed_url!r}, "killed", objects={KILL_OBJECTS!r})
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    with Warehouse.from_url(killed_url) as wh:
        partial = sum(len(rows) for rows in table_fingerprint(wh).values())
    run_billing(env, killed_url, "rerun", objects=KILL_OBJECTS)
    with Warehouse.from_url(clean_url) as clean, Warehouse.from_url(killed_url) as killed:
        expected, got = table_fingerprint(clean), table_fingerprint(killed)
        cursors_clean = clean.fetchall("select object, cursor from ops.cursors order by 1")
        cursors_killed = killed.fetchall("select object, cursor from ops.cursors order by 1")
    assert 0 < partial < sum(len(rows) for rows in expected.values())
    assert got == expected
    assert cursors_killed == cursors_clean
