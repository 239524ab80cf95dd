"""`dbt build` of the S world on DuckDB (shared per session): green, exports only what was not
exported before, snapshots keep history, and no PII value of the world reaches a mart,
reconciliation, export or CRM payload table."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import duckdb
import pytest

from tests.support.raw_from_world import built_warehouse, run_dbt

pytestmark = pytest.mark.integration

PUBLISHED_SCHEMAS = ("marts", "reconciliation", "exports", "sync")


@pytest.fixture(scope="session")
def s_build(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.getbasetemp() / "dbt_s_duckdb"
    db = root / "warehouse.duckdb"
    _, output = built_warehouse(world_s, f"duckdb:///{db}", root / "dbt")
    return db, output


def test_build_runs_every_model_test_and_snapshot_without_error(s_build: tuple[Path, str]) -> None:
    db, output = s_build
    assert "ERROR=0" in output and "SKIP=0" in output
    con = duckdb.connect(str(db), read_only=True)
    try:
        invoices = con.execute("select count(*) from marts.fct_invoices").fetchone()[0]
        raw = con.execute("select count(distinct object_id) from raw.billing__invoice").fetchone()
        snapshots = con.execute(
            "select count(*) from snapshots.snap_subscription_states"
        ).fetchone()
    finally:
        con.close()
    assert invoices == raw[0] > 0
    assert snapshots[0] > 0


def test_export_leaves_out_lines_already_in_the_export_ledger(
    s_build: tuple[Path, str], tmp_path: Path
) -> None:
    db = tmp_path / "copy.duckdb"
    shutil.copy(s_build[0], db)
    con = duckdb.connect(str(db))
    try:
        lines = con.execute(
            "select line_external_id, external_id, source_ref"
            " from exports.export_erp_journal_lines order by line_external_id"
        ).fetchall()
        assert lines, "the S world has billing activity the ERP lacks: there must be lines"
        exported = [r for r in lines if r[1] == lines[0][1]]  # one whole entry
        con.executemany(
            "insert into ops.export_ledger values (?, ?, ?, now(), 'f.csv', 'run-1')", exported
        )
    finally:
        con.close()
    run_dbt(["run", "--select", "export_erp_journal_lines"], f"duckdb:///{db}", tmp_path / "dbt")
    con = duckdb.connect(str(db), read_only=True)
    try:
        after = con.execute(
            "select line_external_id from exports.export_erp_journal_lines"
        ).fetchall()
    finally:
        con.close()
    assert len(after) == len(lines) - len(exported)
    assert not {r[0] for r in exported} & {r[0] for r in after}


def test_no_pii_value_of_the_world_reaches_published_tables(
    world_s: Path, s_build: tuple[Path, str]
) -> None:
    truth = sqlite3.connect(world_s / "truth.sqlite")
    try:
        pii = {v for (v,) in truth.execute("select value from pii") if v and len(v) >= 5}
    finally:
        truth.close()
    con = duckdb.connect(str(s_build[0]), read_only=True)
    try:
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns"
            f" where table_schema in {PUBLISHED_SCHEMAS} and data_type = 'VARCHAR'"
        ).fetchall()
        con.execute("create temp table pii(value varchar)")
        con.executemany("insert into pii values (?)", [(v,) for v in pii])
        leaks = []
        for schema, table, column in columns:
            hits = con.execute(
                f'select count(*) from {schema}.{table} t join pii on t."{column}" = pii.value'
            ).fetchone()[0]
            if hits:
                leaks.append(f"{schema}.{table}.{column}: {hits}")
    finally:
        con.close()
    assert pii and columns
    assert not leaks, leaks
