"""The same dbt project builds and tests green on Postgres (dbt-postgres, the throwaway server
of the suite) and gives the same marts, reconciliation, exports and CRM payloads as DuckDB
for the same S world. Raw tables come from the test loader (tests/support/raw_from_world.py).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from tests.support.raw_from_world import built_warehouse, run_unit_tests

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

# relation -> the columns compared (a stable key first); every row of both targets
COMPARED: dict[str, list[str]] = {
    "reconciliation.rec_breaks": [
        "break_id",
        "break_kind",
        "system_of_record",
        "source_amount",
        "target_amount",
        "difference_amount",
        "currency",
        "age_days",
    ],
    "marts.fct_invoices": [
        "invoice_id",
        "invoice_status",
        "total_amount",
        "tax_amount",
        "line_amount",
        "charged_amount",
        "is_posted_in_erp",
    ],
    "marts.dim_accounts": ["account_id", "billing_customer_id", "billing_status", "mrr_amount"],
    "marts.fct_mrr_movements": ["customer_month_id", "movement_kind", "mrr_amount"],
    "marts.fct_payouts": ["payout_id", "payout_amount", "settled_net_amount", "is_posted_in_erp"],
    "exports.export_erp_journal_lines": [
        "line_external_id",
        "trandate",
        "posting_period",
        "account",
        "debit",
        "credit",
    ],
    "sync.sync_salesforce_account_fields": ["account_field_id", "proposed_value", "source_ref"],
    "reconciliation.rec_verdict": ["threshold_id", "measured_value", "is_passing"],
}


def _norm(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value.quantize(Decimal("0.01"))) if value != value.to_integral() else int(value)
    return value


def _rows(fetch, relation: str, columns: list[str]) -> list[tuple]:
    sql = f"select {', '.join(columns)} from {relation} order by {columns[0]}"
    return [tuple(_norm(v) for v in row) for row in fetch(sql)]


@pytest.fixture(scope="session")
def s_duckdb(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.getbasetemp() / "dbt_s_duckdb"
    db = root / "warehouse.duckdb"
    built_warehouse(world_s, f"duckdb:///{db}", root / "dbt")
    return db


def test_postgres_build_is_green_and_equals_duckdb(
    world_s: Path, s_duckdb: Path, postgres_db: str, tmp_path: Path
) -> None:
    _, output = built_warehouse(world_s, postgres_db, tmp_path / "dbt")
    assert "ERROR=0" in output

    dcon = duckdb.connect(str(s_duckdb), read_only=True)
    with psycopg.connect(postgres_db) as pcon:
        try:
            for relation, columns in COMPARED.items():
                on_duckdb = _rows(lambda q: dcon.execute(q).fetchall(), relation, columns)
                on_postgres = _rows(lambda q: pcon.execute(q).fetchall(), relation, columns)
                assert on_duckdb, f"{relation} is empty on DuckDB"
                assert on_postgres == on_duckdb, (
                    f"{relation} differs: {len(on_postgres)} rows on Postgres, "
                    f"{len(on_duckdb)} on DuckDB; first differences: "
                    f"{sorted(set(on_postgres) ^ set(on_duckdb))[:5]}"
                )
        finally:
            dcon.close()
    # dbt's unit tests on Postgres's dialect (the fixture builds leave them out)
    run_unit_tests(postgres_db, tmp_path / "dbt_unit")
