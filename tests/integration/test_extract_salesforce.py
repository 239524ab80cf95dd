"""The Salesforce extractor against the Salesforce stand-in (HTTPS with a private CA, real
simple-salesforce, real DuckDB).

The stand-in reads `salesforce.sqlite` live, so the world file is the truth: what landed (the
latest version per Id) is compared field by field with the world's record bodies, by value
(decimals as decimals, datetimes as instants), not through the extractor's own normalizer.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from extractors.salesforce import (
    RetrySettings,
    SalesforceAuthError,
    SalesforceBudgetExhausted,
    SalesforceClient,
    SalesforceCredentials,
    SalesforceExtractor,
    SalesforceSchemaError,
)
from extractors.salesforce.errors import SalesforceQueryError
from extractors.salesforce.normalize import parse_datetime
from q2c.landing import get_cursor
from q2c.warehouse import Warehouse
from sandbox.world.salesforce_schema import SOBJECTS

pytestmark = pytest.mark.integration

OBJECTS = ["Account", "Contact", "Opportunity", "Case", "User"]
TYPES = {o: {f.name: f.type for f in fields} for o, fields in SOBJECTS.items()}


@pytest.fixture
def sf(tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    """A small world (450 accounts) served by the Salesforce stand-in, owned by this test."""
    from sandbox.salesforce.synthetic import write_world
    from sandbox.services import start_services

    world = tmp_path / "world"
    write_world(world, 450)
    sandbox = start_services(world, None, tmp_path / "state", services=("salesforce",))
    try:
        yield sandbox, world
    finally:
        sandbox.stop()


def make_client(sandbox: Any, **kw: Any) -> SalesforceClient:
    env = sandbox.env
    creds = SalesforceCredentials(
        login_url=env["Q2C_SALESFORCE_LOGIN_URL"],
        client_id=env["Q2C_SALESFORCE_CLIENT_ID"],
        client_secret=kw.pop("client_secret", env["Q2C_SALESFORCE_CLIENT_SECRET"]),
        username=env["Q2C_SALESFORCE_USERNAME"],
        password=env["Q2C_SALESFORCE_PASSWORD"],
        ca_bundle=env["Q2C_SALESFORCE_CA_BUNDLE"],
    )
    kw.setdefault("retry", RetrySettings(attempts=10, base_wait=0.01, max_wait=0.05))
    return SalesforceClient(creds, **kw)


def world_records(world: Path, sobject: str) -> dict[str, dict[str, Any]]:
    con = sqlite3.connect(world / "salesforce.sqlite")
    rows = con.execute("select id, body from records where sobject = ?", (sobject,)).fetchall()
    con.close()
    return {rid: json.loads(body, parse_float=Decimal) for rid, body in rows}


def same(kind: str, landed: Any, truth: Any) -> bool:
    if truth is None or landed is None:
        return truth is None and landed is None
    if kind in ("currency", "double", "percent", "int"):
        return Decimal(str(landed)) == Decimal(str(truth))
    if kind == "datetime":
        return parse_datetime(landed) == parse_datetime(truth)
    if kind == "boolean":
        return landed is truth
    return landed == truth


def mismatches(wh: Warehouse, world: Path, sobject: str) -> list[str]:
    """Every difference between the latest landed version per Id and the world's record."""
    rows = wh.fetchall(
        f"select object_id, payload, is_deleted from raw.salesforce__{sobject.lower()}"
        " qualify row_number() over (partition by object_id order by extracted_at desc,"
        " provider_ref desc) = 1"
    )
    landed = {oid: (json.loads(p) if isinstance(p, str) else p, d) for oid, p, d in rows}
    truth = world_records(world, sobject)
    out = [f"{sobject} {i}: missing" for i in truth.keys() - landed.keys()]
    out += [f"{sobject} {i}: not in the world" for i in landed.keys() - truth.keys()]
    for rid in truth.keys() & landed.keys():
        payload, deleted = landed[rid]
        if deleted != truth[rid]["IsDeleted"]:
            out.append(f"{sobject} {rid}: tombstone flag")
        for name, value in truth[rid].items():
            if not same(TYPES[sobject].get(name, "string"), payload.get(name), value):
                out.append(f"{sobject} {rid}.{name}")
    return out


def run_all(sandbox: Any, wh: Warehouse, run_id: str, **kw: Any) -> dict[str, Any]:
    client = make_client(sandbox, **kw.pop("client_kw", {}))
    try:
        ex = SalesforceExtractor(client, wh, run_id=run_id, rest_batch_size=200, **kw)
        return {o: ex.extract(o) for o in OBJECTS}
    finally:
        client.close()


def edit(world: Path, record_id: str, field: str, value: Any, stamp: str) -> None:
    con = sqlite3.connect(world / "salesforce.sqlite")
    (body,) = con.execute("select body from records where id = ?", (record_id,)).fetchone()
    data = json.loads(body)
    data[field] = value
    data["SystemModstamp"] = data["LastModifiedDate"] = stamp
    con.execute(
        "update records set body = ?, system_modstamp = ? where id = ?",
        (json.dumps(data), stamp, record_id),
    )
    con.commit()
    con.close()


def test_full_run_lands_the_world_then_reruns_land_nothing(sf, tmp_path):
    sandbox, world = sf
    with Warehouse.from_url(f"duckdb:///{tmp_path}/w.duckdb") as wh:
        first = run_all(sandbox, wh, "run-1")
        for o in OBJECTS:
            assert first[o].landed == len(world_records(world, o)), o
            assert mismatches(wh, world, o) == []
        assert first["Account"].deleted > 0  # soft-deleted accounts arrive as tombstones
        assert first["Account"].api_calls_used is not None
        second = run_all(sandbox, wh, "run-2")
        assert {o: r.landed for o, r in second.items()} == dict.fromkeys(OBJECTS, 0)
        assert second["Account"].rows_read < first["Account"].rows_read  # overlap only


def test_rest_paging_and_the_cursor_follow_system_modstamp(sf, tmp_path):
    sandbox, world = sf
    with Warehouse.from_url(f"duckdb:///{tmp_path}/w.duckdb") as wh:
        client = make_client(sandbox)
        ex = SalesforceExtractor(client, wh, run_id="r", rest_batch_size=200, bulk_threshold=10**6)
        result = ex.extract("Contact")
        client.close()
        con = sqlite3.connect(world / "salesforce.sqlite")
        (top,) = con.execute(
            "select max(system_modstamp) from records where sobject='Contact'"
        ).fetchone()
        assert result.pages >= 3 and result.mode == "rest"  # 450 rows, 200 a page
        assert get_cursor(wh, "salesforce", "contact") == result.cursor_after
        assert parse_datetime(result.cursor_after) == parse_datetime(top)


def test_changed_rows_and_a_late_commit_older_than_the_overlap_are_landed(sf, tmp_path):
    sandbox, world = sf
    with Warehouse.from_url(f"duckdb:///{tmp_path}/w.duckdb") as wh:
        run_all(sandbox, wh, "run-1")
        cursor = get_cursor(wh, "salesforce", "account")
        accounts = sorted(world_records(world, "Account"))
        # an ordinary edit, stamped after the cursor
        edit(world, accounts[3], "Name", "Renamed Co", "2026-11-01T10:00:00.000+0000")
        # a late commit: visible only now, stamped two hours before the cursor (long past the
        # 5-minute overlap); the late-change sweep finds it by Id and stamp
        late = parse_datetime(cursor).replace(microsecond=0) - timedelta(hours=2)
        late_stamp = late.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        edit(world, accounts[5], "Industry", "Late Industry", late_stamp)
        again = run_all(sandbox, wh, "run-2")
        assert again["Account"].landed == 2
        assert again["Account"].late_found == 1
        assert sum(r.landed for r in again.values()) == 2
        assert mismatches(wh, world, "Account") == []
        third = run_all(sandbox, wh, "run-3")
        assert sum(r.landed for r in third.values()) == 0


def test_a_late_commit_older_than_the_sweep_window_is_caught_by_the_monthly_backfill(sf, tmp_path):
    sandbox, world = sf
    with Warehouse.from_url(f"duckdb:///{tmp_path}/w.duckdb") as wh:
        run_all(sandbox, wh, "run-1")
        run_all(sandbox, wh, "run-2")  # later runs sweep only the last day before the cursor
        cursor = parse_datetime(get_cursor(wh, "salesforce", "case"))
        stamp = cursor.replace(microsecond=0) - timedelta(days=3)
        case_id = sorted(world_records(world, "Case"))[0]
        edit(
            world,
            case_id,
            "Subject",
            "Edited long ago",
            stamp.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        )
        run_all(sandbox, wh, "run-3")
        # the incremental and the 24 h sweep cannot see it: the documented limit
        assert sorted(mismatches(wh, world, "Case")) == [
            f"Case {case_id}.{f}" for f in ("LastModifiedDate", "Subject", "SystemModstamp")
        ]
        client = make_client(sandbox)
        month = stamp.replace(day=1, hour=0, minute=0, second=0)
        result = SalesforceExtractor(client, wh, run_id="bf").backfill(
            "Case", month, (month + timedelta(days=32)).replace(day=1)
        )
        client.close()
        assert result.landed == 1
        assert mismatches(wh, world, "Case") == []


def test_with_faults_on_the_landing_still_equals_the_world(sf, tmp_path):
    sandbox, world = sf
    sandbox.set_faults(
        "salesforce",
        {
            "seed": 5,
            "request_limit": {"rate": 0.1},
            "server_error": {"rate": 0.1},
            "drop_connection": {"rate": 0.05},
            "session_expired": {"count": 2},
            "late_update": {"rate": 0.3, "lag_seconds": 1800},
        },
    )
    with Warehouse.from_url(f"duckdb:///{tmp_path}/w.duckdb") as wh:
        faulty = run_all(sandbox, wh, "run-faults")
        assert sum(r.retries for r in faulty.values()) > 0
        assert max(r.relogins for r in faulty.values()) >= 1
        sandbox.set_faults(
            "salesforce",
            {
                "request_limit": None,
                "server_error": None,
                "drop_connection": None,
                "session_expired": None,
                "late_update": None,
            },
        )
        run_all(sandbox, wh, "run-clean")
        # What can still differ is the documented limit: a late commit stamped before the
        # window the sweep compares (its read window minus the 24 h lookback). The stand-in
        # stamps late edits 30 min before the newest row of the page being served, so edits
        # fired while old pages of the first full read were served fall there.
        cursor = {o: parse_datetime(get_cursor(wh, "salesforce", o.lower())) for o in OBJECTS}
        months: set[tuple[str, datetime]] = set()
        for o in OBJECTS:
            truth = world_records(world, o)
            for problem in mismatches(wh, world, o):
                rid = problem.split()[1].split(".")[0]
                stamp = parse_datetime(truth[rid]["SystemModstamp"])
                assert stamp < cursor[o] - timedelta(minutes=5, hours=24), problem
                months.add((o, stamp.replace(day=1, hour=0, minute=0, second=0, microsecond=0)))
        # the monthly Bulk backfill re-reads those months and lands what is missing
        client = make_client(sandbox)
        ex = SalesforceExtractor(client, wh, run_id="backfill")
        for o, start in sorted(months):
            ex.backfill(o, start, (start + timedelta(days=32)).replace(day=1))
        client.close()
        for o in OBJECTS:
            assert mismatches(wh, world, o) == [], o


def test_bulk_backfill_and_bulk_incremental_land_the_same_rows_as_rest(sf, tmp_path):
    sandbox, world = sf
    with Warehouse.from_url(f"duckdb:///{tmp_path}/rest.duckdb") as rest:
        run_all(sandbox, rest, "rest")
        client = make_client(sandbox)
        ex = SalesforceExtractor(client, rest, run_id="backfill")
        window = ex.backfill(
            "Account", datetime(2024, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
        )
        client.close()
        assert window.mode == "bulk" and window.landed == 0
        assert window.duplicates == len(world_records(world, "Account"))
        rest_rows = set(
            rest.fetchall("select object_id, payload_hash from raw.salesforce__account")
        )
    sandbox.set_faults("salesforce", {"bulk_in_progress": {"count": 3}})
    with Warehouse.from_url(f"duckdb:///{tmp_path}/bulk.duckdb") as bulk:
        client = make_client(sandbox)
        ex = SalesforceExtractor(client, bulk, run_id="bulk", bulk_threshold=50, page_rows=70)
        result = ex.extract("Account")
        client.close()
        assert result.mode == "bulk" and result.pages >= 7  # 450 rows at 70 a locator page
        bulk_rows = set(
            bulk.fetchall("select object_id, payload_hash from raw.salesforce__account")
        )
        assert bulk_rows == rest_rows
        assert get_cursor(bulk, "salesforce", "account") == result.cursor_after


def test_a_failed_bulk_job_stops_with_what_to_do(sf, tmp_path):
    sandbox, _ = sf
    sandbox.set_faults("salesforce", {"bulk_job_failed": {"count": 1}})
    with Warehouse.from_url(f"duckdb:///{tmp_path}/w.duckdb") as wh:
        client = make_client(sandbox)
        ex = SalesforceExtractor(client, wh, run_id="r")
        with pytest.raises(SalesforceQueryError, match="What to do"):
            ex.extract("Case", force_bulk=True)
        client.close()
        assert get_cursor(wh, "salesforce", "case") is None


def test_malformed_records_are_quarantined_and_the_cursor_waits_for_them(sf, tmp_path):
    sandbox, world = sf
    sandbox.set_faults("salesforce", {"malformed_record": {"count": 1}})
    with Warehouse.from_url(f"duckdb:///{tmp_path}/w.duckdb") as wh:
        client = make_client(sandbox)
        ex = SalesforceExtractor(client, wh, run_id="r1", rest_batch_size=200, late_lookback=None)
        first = ex.extract("Opportunity")
        assert first.quarantined == 1 and first.cursor_held
        (n,) = wh.fetchone("select count(*) from ops.quarantine where object = 'opportunity'")
        assert n == 1
        second = ex.extract("Opportunity")
        client.close()
        assert second.quarantined == 0 and second.landed == 1
        assert mismatches(wh, world, "Opportunity") == []


def test_the_api_budget_stops_the_run_before_the_reserve(sf, tmp_path):
    sandbox, _ = sf
    sandbox.set_faults("salesforce", {"daily_api_limit": 1000, "api_usage": 895})
    with Warehouse.from_url(f"duckdb:///{tmp_path}/w.duckdb") as wh:
        client = make_client(sandbox, api_reserve=0.10)
        ex = SalesforceExtractor(client, wh, run_id="r", rest_batch_size=200)
        with pytest.raises(SalesforceBudgetExhausted, match="reserve") as info:
            for o in OBJECTS:
                ex.extract(o)
        client.close()
        assert "What to do" in str(info.value)
        assert client.usage is not None and client.usage.used <= 901


def test_bad_credentials_and_unknown_objects_fail_with_a_message(sf, tmp_path):
    sandbox, _ = sf
    with Warehouse.from_url(f"duckdb:///{tmp_path}/w.duckdb") as wh:
        bad = make_client(sandbox, client_secret="wrong")
        with pytest.raises(SalesforceAuthError, match="Q2C_SALESFORCE_CLIENT_SECRET"):
            SalesforceExtractor(bad, wh, run_id="r").extract("Account")
        bad.close()
        client = make_client(sandbox)
        with pytest.raises(SalesforceSchemaError, match="What to do"):
            SalesforceExtractor(client, wh, run_id="r").extract("NoSuchObject__c")
        client.close()


@pytest.mark.postgres
def test_rest_and_bulk_land_into_postgres(sf, postgres_db):
    sandbox, world = sf
    with Warehouse.from_url(postgres_db) as wh:
        first = run_all(sandbox, wh, "pg-1")
        assert {o: r.landed for o, r in first.items()} == {
            o: len(world_records(world, o)) for o in OBJECTS
        }
        client = make_client(sandbox)
        bulk = SalesforceExtractor(client, wh, run_id="pg-bulk").extract("Account", force_bulk=True)
        client.close()
        assert bulk.mode == "bulk" and bulk.landed == 0
        assert sum(r.landed for r in run_all(sandbox, wh, "pg-2").values()) == 0
