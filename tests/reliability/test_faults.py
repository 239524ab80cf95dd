"""Faults the stand-ins inject (their own counters prove each fired), each with the proof that
nothing was lost or duplicated: what landed equals the world, and a rerun lands nothing.

Billing (the Stripe stand-in): 429s, 5xx bursts, timeouts, dropped connections, duplicate and
out-of-order events. Salesforce: an expired session (401 INVALID_SESSION_ID, then a new login),
responses cut mid-body, 5xx bursts, request limits, the daily API budget running out (a clean
stop before the limit), a Bulk job failing midway. ERP: 429 with Retry-After, 5xx bursts,
dropped connections, an expired token, late commits stamped behind the cursor.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from extractors.salesforce import SalesforceBudgetExhausted, SalesforceExtractor
from extractors.salesforce.errors import SalesforceQueryError
from extractors.salesforce.normalize import parse_datetime
from q2c.landing import get_cursor
from q2c.warehouse import Warehouse
from sandbox.services import RunningSandbox, start_services
from tests.integration import test_extract_erp as erp_helpers
from tests.integration.test_extract_billing import (
    FAST_RETRY,
    landed_live,
    run_billing,
    world_listing,
)
from tests.integration.test_extract_salesforce import OBJECTS as SF_OBJECTS
from tests.integration.test_extract_salesforce import make_client, world_records
from tests.integration.test_extract_salesforce import run_all as sf_extract
from tests.reliability.conftest import Faults
from tests.support.reliability import Recorder
from tests.support.sandbox import build_tiny_erp_world

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

#: Events (duplicates, out of order), a parent with children and plain lists.
BILLING_OBJECTS = ("event", "customer", "invoice", "charge")
BILLING_TABLES = (*BILLING_OBJECTS, "line_item")


def billing_lands_the_world(
    world: Path, url: str, reliability: Recorder, tables: tuple[str, ...] = BILLING_TABLES
) -> None:
    """Every table equals the world's listing, and no version was landed twice."""
    listing = world_listing(world)
    with Warehouse.from_url(url) as wh:
        for table in tables:
            assert reliability.rows(listing.get(table, {}), landed_live(wh, table)) == 0, table
            (dupes,) = wh.fetchone(
                f"select count(*) - count(distinct (object_id, payload_hash))"
                f" from raw.billing__{table}"
            )
            assert dupes == 0, f"{table}: a version landed twice"


BILLING_FAULTS: dict[str, dict[str, Any]] = {
    "billing_429": {"rate_limit": {"probability": 0.2}, "seed": 3},
    "billing_5xx_burst": {"server_errors": {"every": 9, "burst": 3, "status": 503}},
    "billing_dropped_connection": {"drop_connection": {"probability": 0.1}, "seed": 5},
    "billing_duplicate_events": {"duplicate_events": {"rate": 0.3}, "seed": 2},
    "billing_out_of_order_events": {"out_of_order_events": {"rate": 0.3}, "seed": 2},
}


@pytest.mark.parametrize("name", sorted(BILLING_FAULTS))
def test_billing_fault_loses_and_duplicates_nothing(
    name: str, world_xs: Path, faults: Faults, reliability: Recorder, tmp_path: Path
) -> None:
    faults.on("billing", BILLING_FAULTS[name])
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    results = run_billing(faults.sandbox.env, url, "faulty", objects=BILLING_OBJECTS)
    for fault, n in faults.fired("billing").items():
        reliability.fault(f"{name}:{fault}", n)
    assert reliability.measured.faults, f"{name}: no fault fired"
    if name.startswith(("billing_429", "billing_5xx", "billing_dropped")):
        assert sum(r.retries for r in results) > 0
    billing_lands_the_world(world_xs, url, reliability)
    again = run_billing(faults.sandbox.env, url, "again", objects=BILLING_OBJECTS)
    assert sum(r.landed for r in again) == 0


def test_billing_requests_that_time_out_are_retried(
    world_xs: Path, faults: Faults, reliability: Recorder, tmp_path: Path
) -> None:
    faults.on("billing", {"timeout": {"count": 2, "seconds": 30, "paths": ["/v1/customers"]}})
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    results = run_billing(
        faults.sandbox.env,
        url,
        "t",
        objects=("customer",),
        retry=replace(FAST_RETRY, timeout=0.5),
    )
    reliability.fault("billing_timeout", faults.fired("billing")["timeout"])
    assert results[0].retries >= 2 and results[0].complete
    billing_lands_the_world(world_xs, url, reliability, ("customer",))


# -- Salesforce --------------------------------------------------------------------------------


def sf_lands_the_world(world: Path, wh: Warehouse, reliability: Recorder) -> None:
    """The latest landed version of every record has the world's SystemModstamp and body."""
    for sobject in SF_OBJECTS:
        truth = {
            rid: (parse_datetime(body["SystemModstamp"]), body.get("Name"))
            for rid, body in world_records(world, sobject).items()
        }
        rows = wh.fetchall(
            f"select object_id, payload from raw.salesforce__{sobject.lower()}"
            " qualify row_number() over (partition by object_id order by extracted_at desc,"
            " provider_ref desc) = 1"
        )
        landed = {}
        for rid, payload in rows:
            body = json.loads(payload) if isinstance(payload, str) else payload
            landed[rid] = (parse_datetime(body["SystemModstamp"]), body.get("Name"))
        assert reliability.rows(truth, landed) == 0, sobject


SF_FAULTS: dict[str, dict[str, Any]] = {
    "salesforce_401_invalid_session": {"session_expired": {"count": 2}},
    "salesforce_cut_mid_body": {"drop_connection": {"rate": 0.15}, "seed": 4},
    "salesforce_5xx_burst": {"server_error": {"count": 3}},
    "salesforce_request_limit": {"request_limit": {"rate": 0.15}, "seed": 6},
}


@pytest.mark.parametrize("name", sorted(SF_FAULTS))
def test_salesforce_fault_loses_and_duplicates_nothing(
    name: str, world_xs: Path, faults: Faults, reliability: Recorder, tmp_path: Path
) -> None:
    faults.on("salesforce", SF_FAULTS[name])
    with Warehouse.from_url(f"duckdb:///{tmp_path}/w.duckdb") as wh:
        results = sf_extract(faults.sandbox, wh, "faulty")
        for fault, n in faults.fired("salesforce").items():
            reliability.fault(f"{name}:{fault}", n)
        assert sum(r.retries + r.relogins for r in results.values()) > 0
        if name == "salesforce_401_invalid_session":
            assert max(r.relogins for r in results.values()) >= 1  # logged in again
        sf_lands_the_world(world_xs, wh, reliability)
        again = sf_extract(faults.sandbox, wh, "again", late_lookback=None)
        assert sum(r.landed for r in again.values()) == 0


def test_the_salesforce_budget_stops_the_run_cleanly_before_the_limit_then_a_rerun_completes(
    world_xs: Path, faults: Faults, reliability: Recorder, tmp_path: Path
) -> None:
    faults.on("salesforce", {"daily_api_limit": 1000, "api_usage": 985})
    with Warehouse.from_url(f"duckdb:///{tmp_path}/w.duckdb") as wh:
        client = make_client(faults.sandbox, api_reserve=0.01)
        ex = SalesforceExtractor(client, wh, run_id="budget", rest_batch_size=50)
        done: list[str] = []
        with pytest.raises(SalesforceBudgetExhausted, match="What to do") as stop:
            for o in SF_OBJECTS:
                ex.extract(o)
                done.append(o)
        client.close()
        assert client.usage is not None and client.usage.used < 1000  # stopped before the limit
        reliability.fault("salesforce_budget_exhausted", 1)
        assert "reserve" in str(stop.value)
        # the object the stop interrupted keeps a cursor no further than the pages it landed
        stopped = SF_OBJECTS[len(done)].lower()
        cursor = get_cursor(wh, "salesforce", stopped)
        if cursor is not None:
            (newest,) = wh.fetchone(
                f"select max(payload->>'SystemModstamp') from raw.salesforce__{stopped}"
            )
            assert parse_datetime(cursor) <= parse_datetime(newest)
        # a rerun with budget lands the whole world
        faults.on("salesforce", {"api_usage": 0})
        sf_extract(faults.sandbox, wh, "rerun")
        sf_lands_the_world(world_xs, wh, reliability)


def test_a_bulk_job_failing_midway_stops_with_what_to_do_and_a_rerun_lands_the_world(
    world_xs: Path, faults: Faults, reliability: Recorder, tmp_path: Path
) -> None:
    with Warehouse.from_url(f"duckdb:///{tmp_path}/w.duckdb") as wh:
        client = make_client(faults.sandbox)
        try:
            ex = SalesforceExtractor(client, wh, run_id="bulk")
            ex.extract("Account", force_bulk=True)
            faults.on("salesforce", {"bulk_job_failed": {"count": 1}})
            with pytest.raises(SalesforceQueryError, match="What to do"):
                ex.extract("Contact", force_bulk=True)
            reliability.fault(
                "salesforce_bulk_job_failed", faults.fired("salesforce")["bulk_job_failed"]
            )
            assert get_cursor(wh, "salesforce", "contact") is None  # nothing half-recorded
            for o in SF_OBJECTS[1:]:
                ex.extract(o, force_bulk=True)
        finally:
            client.close()
        sf_lands_the_world(world_xs, wh, reliability)


# -- ERP ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def erp_tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningSandbox, Path]]:
    """The ERP stand-in over a tiny hand-written ERP world (20 customers, 80 invoices)."""
    root = tmp_path_factory.mktemp("erp_tiny")
    world = build_tiny_erp_world(root / "world", customers=20, invoices=80)
    with start_services(world, None, root / "state", services=("erp",)) as sandbox:
        yield sandbox, world


def erp_lands_the_world(world: Path, wh: Warehouse, reliability: Recorder) -> None:
    for table in erp_helpers.TABLES_READ:
        truth = erp_helpers.world_rows(world, table)
        assert reliability.rows(truth, erp_helpers.landed_latest(wh, table)) == 0, table
        (dupes,) = wh.fetchone(
            f"select count(*) - count(distinct (object_id, payload_hash)) from raw.erp__{table}"
        )
        assert dupes == 0, table


ERP_FAULTS: dict[str, dict[str, Any]] = {
    "erp_429_retry_after": {"rate_limit": 0.2, "seed": 3},
    "erp_5xx_burst": {"server_error": 0.1, "server_error_burst": 3, "seed": 4},
    "erp_dropped_connection": {"drop_connection": 0.15, "seed": 5},
    "erp_expired_token": {"expired_token": 0.1, "seed": 6},
}


@pytest.mark.parametrize("name", sorted(ERP_FAULTS))
def test_erp_fault_loses_and_duplicates_nothing(
    name: str, erp_tiny: tuple[RunningSandbox, Path], reliability: Recorder, tmp_path: Path
) -> None:
    sandbox, world = erp_tiny
    switch = Faults(sandbox)
    switch.on("erp", ERP_FAULTS[name])
    try:
        with Warehouse.from_url(f"duckdb:///{tmp_path}/w.duckdb") as wh:
            results = erp_helpers.run_all(sandbox, wh, "faulty", page_size=25, attempts=12)
            for fault, n in switch.fired("erp").items():
                reliability.fault(f"{name}:{fault}", n)
            assert reliability.measured.faults, f"{name}: no fault fired"
            assert sum(r.retries for r in results.values()) > 0
            erp_lands_the_world(world, wh, reliability)
            switch.off()
            again = erp_helpers.run_all(sandbox, wh, "again", page_size=25)
            assert sum(r.landed for r in again.values()) == 0
    finally:
        switch.off()


def test_erp_late_commits_behind_the_cursor_are_landed_by_the_overlap(
    erp_tiny: tuple[RunningSandbox, Path], reliability: Recorder, tmp_path: Path
) -> None:
    sandbox, world = erp_tiny
    switch = Faults(sandbox)
    with Warehouse.from_url(f"duckdb:///{tmp_path}/w.duckdb") as wh:
        erp_helpers.run_all(sandbox, wh, "first", page_size=25)
        switch.on("erp", {"late_update": 0.3, "late_update_lag_s": 1800, "seed": 8})
        try:
            erp_helpers.run_all(sandbox, wh, "late", page_size=25)
            for fault, n in switch.fired("erp").items():
                reliability.fault(f"erp_late_commit:{fault}", n)
        finally:
            switch.off()
        erp_helpers.run_all(sandbox, wh, "after", page_size=25)
        erp_lands_the_world(world, wh, reliability)
