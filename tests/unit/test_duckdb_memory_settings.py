"""DuckDB's memory settings: read once by q2c/settings.py, applied to q2c's own connections and
handed to dbt's profile (README, "Memory")."""

from __future__ import annotations

from pathlib import Path

import pytest

from q2c.settings import load_settings, override_settings
from q2c.warehouse import Warehouse

pytestmark = pytest.mark.unit


def test_defaults_bound_both_connections(tmp_path: Path) -> None:
    settings = load_settings({"Q2C_WAREHOUSE_URL": f"duckdb:///{tmp_path}/w.duckdb"})
    assert settings.duckdb_config() == {"memory_limit": "128MB"}
    assert settings.duckdb_config(dbt=True) == {"memory_limit": "8GB"}
    env = settings.dbt_duckdb_environment()
    assert env["Q2C_DUCKDB_MEMORY_LIMIT"] == "8GB"
    assert env["Q2C_DUCKDB_TEMP_DIRECTORY"] == f"{tmp_path}/w.duckdb.tmp"
    assert int(env["Q2C_DUCKDB_THREADS"]) >= 1
    assert env["Q2C_DBT_THREADS"] == "4"


def test_the_environment_sets_limit_threads_and_spill_directory(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "Q2C_WAREHOUSE_URL": f"duckdb:///{tmp_path}/w.duckdb",
            "Q2C_DUCKDB_MEMORY_LIMIT": "600MB",
            "Q2C_DUCKDB_CONNECTION_MEMORY_LIMIT": "200MB",
            "Q2C_DUCKDB_THREADS": "1",
            "Q2C_DUCKDB_TEMP_DIRECTORY": str(tmp_path / "spill"),
            "Q2C_DBT_THREADS": "1",
        }
    )
    assert settings.dbt_duckdb_environment() == {
        "Q2C_DUCKDB_MEMORY_LIMIT": "600MB",
        "Q2C_DUCKDB_THREADS": "1",
        "Q2C_DUCKDB_TEMP_DIRECTORY": str(tmp_path / "spill"),
        "Q2C_DBT_THREADS": "1",
    }
    with override_settings(settings), Warehouse.from_url(settings.warehouse_url) as wh:
        limit, threads, temp = wh.fetchone(
            "select current_setting('memory_limit'), current_setting('threads'), "
            "current_setting('temp_directory')"
        )
    assert (limit, threads, temp) == ("190.7 MiB", 1, str(tmp_path / "spill"))
