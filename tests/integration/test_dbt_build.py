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


def test_export_leaves_out_whole_entries_already_in_the_export_ledger(
    s_build: tuple[Path, str], tmp_path: Path
) -> None:
    """An entry the ledger holds is left out whole, also when the ledger has only one of its
    lines (a crash between the ERP's answer and the ledger write): the ERP posts entries
    atomically, so one accepted line means the entry was posted; every other entry goes out
    with all its lines, balanced."""
    db = tmp_path / "copy.duckdb"
    shutil.copy(s_build[0], db)
    con = duckdb.connect(str(db))
    try:
        lines = con.execute(
            "select line_external_id, external_id, source_ref, debit_minor, credit_minor"
            " from exports.export_erp_journal_lines order by line_external_id"
        ).fetchall()
        assert lines, "the S world has billing activity the ERP lacks: there must be lines"
        entries: dict[str, list[tuple]] = {}
        for line in lines:
            entries.setdefault(line[1], []).append(line)
        multi = [e for e, ls in entries.items() if len(ls) > 1]
        whole, partial = multi[0], multi[1]
        ledger = [r[:3] for r in entries[whole]] + [entries[partial][0][:3]]
        con.executemany(
            "insert into ops.export_ledger values (?, ?, ?, now(), 'f.csv', 'run-1')", ledger
        )
    finally:
        con.close()
    run_dbt(["build", "--select", "export_erp_journal_lines"], f"duckdb:///{db}", tmp_path / "dbt")
    con = duckdb.connect(str(db), read_only=True)
    try:
        after = con.execute(
            "select external_id, sum(debit_minor), sum(credit_minor), count(*)"
            " from exports.export_erp_journal_lines group by external_id"
        ).fetchall()
    finally:
        con.close()
    left = {e: (d, c, n) for e, d, c, n in after}
    assert set(left) == set(entries) - {whole, partial}
    for entry, (debits, credits, n) in left.items():
        assert (debits, credits, n) == (
            sum(r[3] for r in entries[entry]),
            sum(r[4] for r in entries[entry]),
            len(entries[entry]),
        )
        assert debits == credits


def test_export_source_refs_name_real_billing_objects(s_build: tuple[Path, str]) -> None:
    """Each line names the billing object it comes from as `billing:<object>:<id>`, with
    Stripe's object names (a payment is a charge), and the ERP import's uppercase currency."""
    con = duckdb.connect(str(s_build[0]), read_only=True)
    try:
        refs = con.execute(
            "select entry_kind, source_ref, billing_id, currency, currency_code"
            " from exports.export_erp_journal_lines"
        ).fetchall()
        known = {
            r[0]
            for r in con.execute(
                "select 'billing:invoice:' || invoice_id from staging.stg_billing__invoices"
                " union all select 'billing:charge:' || charge_id from staging.stg_billing__charges"
                " union all select 'billing:refund:' || refund_id from staging.stg_billing__refunds"
                " union all select 'billing:payout:' || payout_id from staging.stg_billing__payouts"
            ).fetchall()
        }
    finally:
        con.close()
    objects = {"invoice": "invoice", "payment": "charge", "refund": "refund", "payout": "payout"}
    for kind, source_ref, billing_id, currency, currency_code in refs:
        assert source_ref == f"billing:{objects[kind]}:{billing_id}", source_ref
        assert source_ref in known
        assert currency == currency_code.upper() and currency.isupper()
    assert {kind for kind, *_ in refs} >= {"invoice", "payment", "payout"}


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
