"""Snapshots keep history: a change landed between two dbt builds closes the old version and
opens a new current one, for the subscription snapshot (check strategy over
`fct_subscriptions`) and the CRM account snapshot (timestamp strategy on SystemModstamp over
`stg_salesforce__accounts`), with one row per (id, dbt_valid_from).

The change is landed as the extractors land it: a new row appended to `raw.billing__subscription`
/ `raw.salesforce__account` with a later `extracted_at` (raw is append-only; staging takes the
latest version per id)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.support.raw_from_world import built_warehouse, make_row, run_dbt, world_now

pytestmark = pytest.mark.integration

# the snapshots and the models they read, in one dbt invocation (tests run once, at the end)
BUILD = [
    "build",
    "--select",
    "+snap_subscription_states",
    "+snap_crm_account_states",
    "--resource-type",
    "model",
    "snapshot",
]


def _append(
    con: duckdb.DuckDBPyConnection,
    table: str,
    object_id: str,
    payload: dict[str, Any],
    provider_ref: str | None,
    extracted_at: datetime,
) -> None:
    row = make_row(object_id, provider_ref, payload, False)
    con.execute(
        f"insert into raw.{table} values (?, ?, ?::json, ?, false, ?, 'test-change')",
        [row.object_id, row.provider_ref, row.payload, row.payload_hash, extracted_at],
    )


def _latest_payload(con: duckdb.DuckDBPyConnection, table: str, object_id: str) -> dict:
    (text,) = con.execute(
        f"select payload from raw.{table} where object_id = ?"
        " order by extracted_at desc limit 1",
        [object_id],
    ).fetchone()
    return json.loads(text)


@pytest.fixture(scope="module")
def snapshotted_twice(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Build + snapshot at S (a copy of the session's one S build, snapshots included), land one
    changed subscription and one changed CRM account, build + snapshot again. Returns the
    warehouse path and what was changed."""
    root = tmp_path_factory.mktemp("dbt_snapshots")
    db = root / "warehouse.duckdb"
    url = f"duckdb:///{db}"
    built_warehouse(world_s, url, root / "dbt")

    landed_at = world_now(world_s) + timedelta(hours=1)
    con = duckdb.connect(str(db))
    try:
        sub_id, old_status = con.execute(
            "select subscription_id, subscription_status from marts.fct_subscriptions"
            " where subscription_status = 'active' and not is_deleted"
            " order by subscription_id limit 1"
        ).fetchone()
        sub = _latest_payload(con, "billing__subscription", sub_id)
        ended = int(landed_at.timestamp())
        sub.update(status="canceled", canceled_at=ended, ended_at=ended)
        _append(con, "billing__subscription", sub_id, sub, None, landed_at)

        account_id, old_modstamp, old_type = con.execute(
            "select account_id, system_modstamp, account_type from staging.stg_salesforce__accounts"
            " where not is_deleted order by account_id limit 1"
        ).fetchone()
        account = _latest_payload(con, "salesforce__account", account_id)
        modstamp = landed_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        new_type = "Former Customer" if old_type != "Former Customer" else "Customer"
        account.update(Type=new_type, LastModifiedDate=modstamp, SystemModstamp=modstamp)
        _append(con, "salesforce__account", account_id, account, modstamp, landed_at)
    finally:
        con.close()

    run_dbt(BUILD, url, root / "dbt")
    code, tests = run_dbt(
        [
            "test",
            "--select",
            "snap_subscription_states",
            "snap_crm_account_states",
            "assert_snapshot_versions_are_unique_and_contiguous",
        ],
        url,
        root / "dbt",
        check=False,
    )
    return {
        "db": db,
        "subscription": (sub_id, old_status),
        "account": (account_id, old_modstamp, old_type, new_type, landed_at),
        "tests": (code, tests),
    }


def test_subscription_change_closes_the_old_version_and_opens_a_current_one(
    snapshotted_twice: dict[str, Any],
) -> None:
    sub_id, old_status = snapshotted_twice["subscription"]
    con = duckdb.connect(str(snapshotted_twice["db"]), read_only=True)
    try:
        versions = con.execute(
            "select subscription_status, mrr_amount, dbt_valid_from, dbt_valid_to"
            " from snapshots.snap_subscription_states where subscription_id = ?"
            " order by dbt_valid_from",
            [sub_id],
        ).fetchall()
        others = con.execute(
            "select count(*), count(distinct subscription_id), count(dbt_valid_to)"
            " from snapshots.snap_subscription_states where subscription_id <> ?",
            [sub_id],
        ).fetchone()
    finally:
        con.close()
    assert len(versions) == 2, versions
    (old, new) = versions
    assert old[0] == old_status and old[3] is not None
    assert new[0] == "canceled" and new[1] == 0 and new[3] is None
    assert new[2] == old[3]  # the new version starts where the old one ends
    # nothing else changed between the builds: every other subscription has one current row
    assert others[0] == others[1] > 0 and others[2] == 0


def test_crm_account_change_closes_the_old_version_at_the_new_modstamp(
    snapshotted_twice: dict[str, Any],
) -> None:
    account_id, old_modstamp, old_type, new_type, landed_at = snapshotted_twice["account"]
    con = duckdb.connect(str(snapshotted_twice["db"]), read_only=True)
    try:
        versions = con.execute(
            "select account_type, system_modstamp, dbt_valid_from, dbt_valid_to"
            " from snapshots.snap_crm_account_states where account_id = ?"
            " order by dbt_valid_from",
            [account_id],
        ).fetchall()
        closed_elsewhere = con.execute(
            "select count(*) from snapshots.snap_crm_account_states"
            " where account_id <> ? and dbt_valid_to is not null",
            [account_id],
        ).fetchone()[0]
    finally:
        con.close()
    assert len(versions) == 2, versions
    (old, new) = versions
    new_modstamp = landed_at.replace(tzinfo=None)
    assert (old[0], old[1], old[2]) == (old_type, old_modstamp, old_modstamp)
    assert old[3] == new_modstamp
    assert (new[0], new[2], new[3]) == (new_type, new_modstamp, None)
    assert closed_elsewhere == 0


def test_snapshot_rows_are_unique_per_id_and_valid_from(
    snapshotted_twice: dict[str, Any],
) -> None:
    con = duckdb.connect(str(snapshotted_twice["db"]), read_only=True)
    try:
        for table, key in (
            ("snap_subscription_states", "subscription_id"),
            ("snap_crm_account_states", "account_id"),
        ):
            rows, versions, ids, current = con.execute(
                f"select count(*), count(distinct ({key}, dbt_valid_from)),"
                f" count(distinct {key}), count(*) filter (where dbt_valid_to is null)"
                f" from snapshots.{table}"
            ).fetchone()
            assert rows == versions == ids + 1, table  # exactly one id has two versions
            assert current == ids, table
    finally:
        con.close()
    code, tests = snapshotted_twice["tests"]
    assert "PASS assert_snapshot_versions_are_unique_and_contiguous" in tests, tests[-3000:]
    assert code == 0 and "ERROR=0" in tests, tests[-3000:]
