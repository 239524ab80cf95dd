"""The period report reads PostgreSQL as it reads DuckDB: the S world built on both gives the
same report (every section's rows; the header differs only in the warehouse's name)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from q2c.policy import load_contract
from q2c.reports import Period, build_report
from q2c.warehouse import Warehouse
from tests.support.raw_from_world import built_warehouse
from tests.support.reports import s_duckdb

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def _report(url: str) -> dict:
    with Warehouse.from_url(url) as wh:
        report = build_report(
            wh, load_contract(), Period(2026, 10), run_id="pg", generated_at=datetime(2026, 11, 2)
        )
    return report.to_json()


def test_the_report_on_postgres_equals_the_report_on_duckdb(
    world_s: Path, postgres_db: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    db = s_duckdb(world_s, tmp_path_factory)
    built_warehouse(world_s, postgres_db, tmp_path / "dbt")
    on_duckdb, on_postgres = _report(f"duckdb:///{db}"), _report(postgres_db)
    assert on_postgres["header"].pop("warehouse") == "postgres"
    assert on_duckdb["header"].pop("warehouse") == "duckdb"
    assert on_postgres["header"] == on_duckdb["header"]
    for key, section in on_duckdb["sections"].items():
        assert on_postgres["sections"][key] == section, key
    assert len(on_duckdb["sections"]["open_items"]["rows"]) > 200
