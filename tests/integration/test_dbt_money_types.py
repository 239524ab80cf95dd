"""Money stays exact in the built S warehouse on DuckDB: no column of the dbt project's
schemas is a binary floating type (DuckDB's `/` on decimals returns DOUBLE, so one careless
division would show up here), and the amount columns the marts and intermediate models
publish are integers (minor units) or DECIMALs. Reads `information_schema` of the same S
build as tests/integration/test_dbt_build.py (shared per session).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.support.raw_from_world import built_warehouse

pytestmark = pytest.mark.integration

DBT_SCHEMAS = ("staging", "intermediate", "marts", "reconciliation", "exports", "sync")
FLOATING = ("DOUBLE", "FLOAT", "REAL")
# column-name parts that mark a money column (amounts, MRR/ARR, ERP totals, debits/credits)
MONEY_MARKERS = ("amount", "mrr", "arr", "total", "debit", "credit")


@pytest.fixture(scope="module")
def columns(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, ...]]:
    root = tmp_path_factory.getbasetemp() / "dbt_s_duckdb"
    db = root / "warehouse.duckdb"
    built_warehouse(world_s, f"duckdb:///{db}", root / "dbt")
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            "select table_schema, table_name, column_name, data_type"
            " from information_schema.columns"
            f" where table_schema in {DBT_SCHEMAS!r}"
            " order by 1, 2, 3"
        ).fetchall()
    finally:
        con.close()


def test_no_column_of_the_dbt_schemas_is_floating_point(columns: list[tuple[str, ...]]) -> None:
    floating = [c for c in columns if c[3].upper().startswith(FLOATING)]
    assert not floating, f"floating-point columns (money must be exact): {floating}"


def test_marts_and_intermediate_money_columns_are_integers_or_decimals(
    columns: list[tuple[str, ...]],
) -> None:
    money = [
        c
        for c in columns
        if c[0] in ("marts", "intermediate")
        and any(marker in c[2].lower() for marker in MONEY_MARKERS)
        and not c[2].lower().endswith(("_id", "_count", "_at", "_date"))
        and c[3].upper() != "BOOLEAN"
    ]
    # the marts publish many amounts; an empty list would mean the check looked at nothing
    assert len(money) >= 30, money
    inexact = [c for c in money if not c[3].upper().startswith(("BIGINT", "DECIMAL", "HUGEINT"))]
    assert not inexact, f"money columns neither integer minor units nor DECIMAL: {inexact}"
    spread = {(c[1], c[2]): c[3] for c in money}
    assert spread[("int_invoice_lines__spread_to_months", "monthly_amount")] == "DECIMAL(20,4)"
