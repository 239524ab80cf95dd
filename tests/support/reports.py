"""The S world's DuckDB build the report tests read (the session's shared build)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.raw_from_world import built_warehouse


def s_duckdb(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The DuckDB file of the S build shared with tests/integration/test_dbt_build.py."""
    root = tmp_path_factory.getbasetemp() / "dbt_s_duckdb"
    db = root / "warehouse.duckdb"
    built_warehouse(world_s, f"duckdb:///{db}", root / "dbt")
    return db
