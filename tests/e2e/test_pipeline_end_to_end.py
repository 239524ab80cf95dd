"""The whole pipeline through Dagster against the sandbox, as `make demo` runs it.

A copy of the session's S world is served by the real stand-ins; the code location's own
definitions (built for a DuckDB warehouse in a temp dir) run every asset with the in-process
executor on a temporary Dagster instance. Then the warehouse is compared with the world's truth,
and a second run lands only what the first run's CRM write-back changed, writing nothing.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orchestration.commands.run import RunSummary
from tests.support.pipeline import private_copy
from tests.support.reconciliation_truth import break_keys, truth_keys

pytestmark = pytest.mark.e2e

MODELED_SCHEMAS = ("marts", "reconciliation", "exports", "sync")


@pytest.fixture(scope="module")
def pipeline(
    s_pipeline_runs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Two full runs over one world (the session's shared pair, `s_pipeline_runs`)."""
    runs = private_copy(s_pipeline_runs, tmp_path_factory.mktemp("e2e"))
    return {
        **runs,
        "tables_after_first": _modeled_table_digests(runs["warehouse_after_first"]),
        "tables_after_second": _modeled_table_digests(runs["warehouse"]),
    }


def _modeled_table_digests(warehouse: Path) -> dict[str, str]:
    """sha256 of each modeled table's rows in a stable order."""
    digests: dict[str, str] = {}
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        tables = conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('marts', 'reconciliation', 'exports', 'sync') "
            "and table_type = 'BASE TABLE' order by 1, 2"
        ).fetchall()
        for schema, table in tables:
            rows = conn.execute(f'select * from "{schema}"."{table}"').fetchall()
            digest = hashlib.sha256()
            for row in sorted(repr(r) for r in rows):
                digest.update(row.encode())
            digests[f"{schema}.{table}"] = digest.hexdigest()
    return digests


def _truth(world: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(world / "truth.sqlite") as conn:
        return conn.execute(sql).fetchall()


def _failures(summary: RunSummary) -> str:
    return "\n".join(f"{f['step']}: {f['error']}" for f in summary.failed_steps)


def test_first_run_materializes_every_asset(pipeline: dict[str, Any]) -> None:
    first: RunSummary = pipeline["first"]
    assert first.success, _failures(first)
    # the S world's injected breaks are on objects the outgoing batches do not carry or hold
    # only their own records (reconciliation.gate_holds): no gate refuses a whole batch, and
    # every asset runs, the write-back included
    assert not first.gates_refused, first.gates_refused
    assert not first.not_materialized, first.not_materialized
    assert len(first.assets) == first.selected


def test_landed_billing_and_crm_rows_equal_the_world(pipeline: dict[str, Any]) -> None:
    counts = dict(
        _truth(
            pipeline["world"],
            "select system || '/' || object, n from counts "
            "where system in ('billing', 'salesforce') and object not like '%:%'",
        )
    )
    with duckdb.connect(str(pipeline["warehouse"]), read_only=True) as conn:
        for key, expected in counts.items():
            source, obj = key.split("/")
            table = f"raw.{source}__{obj.lower()}"
            landed = conn.execute(f"select count(distinct object_id) from {table}").fetchone()[0]
            assert landed == expected, f"{table}: landed {landed}, the world has {expected}"


def test_invoice_mart_has_one_row_per_billing_invoice(pipeline: dict[str, Any]) -> None:
    (expected,) = _truth(
        pipeline["world"], "select n from counts where system = 'billing' and object = 'invoice'"
    )[0]
    with duckdb.connect(str(pipeline["warehouse"]), read_only=True) as conn:
        (n,) = conn.execute("select count(*) from marts.fct_invoices").fetchone()
    assert n == expected


def test_reconciliation_reports_every_observable_discrepancy_and_nothing_else(
    pipeline: dict[str, Any],
) -> None:
    truth = truth_keys(pipeline["world"], listable_events_only=True)
    # after the first run: its write-back corrects CRM fields, and the second run's re-extract
    # then (rightly) no longer finds the CRM-side breaks the world was generated with
    found = break_keys(pipeline["warehouse_after_first"])
    misses = sorted(truth - found, key=str)
    false_positives = sorted(found - truth, key=str)
    assert not misses and not false_positives, "".join(
        [*(f"MISS {m}\n" for m in misses), *(f"FALSE POSITIVE {f}\n" for f in false_positives)]
    )


#: the breaks the CRM write-back closes (it writes what billing says onto the CRM record)
CLOSED_BY_WRITE_BACK = {"crm_billing_status_stale", "case_dunning_without_priority"}


def test_second_run_lands_only_the_write_backs_echo_and_the_crm_loop_closes(
    pipeline: dict[str, Any],
) -> None:
    """The first run wrote the changed accounts and cases to the CRM (the gates pass at S);
    the second lands exactly those records again (their SystemModstamp moved) and nothing else,
    writes nothing, and the breaks the writes fixed leave rec_breaks; nothing else changes."""
    second: RunSummary = pipeline["second"]
    assert second.success, _failures(second)
    written = {(j["sobject"], j["record_id"]) for j in pipeline["journal_first"]}
    assert written, "the first run wrote nothing to the CRM"
    assert pipeline["journal_second"] == []
    assert second.rows_landed == len(written)
    assert pipeline["tables_after_first"], "no modeled tables were built"
    export = "exports.export_erp_journal_lines"
    assert pipeline["tables_after_second"][export] == pipeline["tables_after_first"][export]
    before = break_keys(pipeline["warehouse_after_first"])
    after = break_keys(pipeline["warehouse"])
    closed = before - after
    assert after <= before  # the writes open no break
    assert closed and {kind for kind, _, _ in closed} <= CLOSED_BY_WRITE_BACK, sorted(closed)
