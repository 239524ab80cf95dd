"""End to end on Postgres: the Dagster instance (run, event-log and schedule storage via
dagster-postgres, configured by deploy/dagster.yaml) and the warehouse both on the suite's
throwaway PostgreSQL; the dbt assets run as a job on the multiprocess executor and give the
same marts as the DuckDB build of the same S world.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import duckdb
import psycopg
import pytest

from orchestration.assets.dbt import dbt_models_job
from tests.integration.test_dbt_postgres import COMPARED, _rows
from tests.support.postgres import PostgresServer
from tests.support.raw_from_world import built_warehouse, load_raw_from_world

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

DEPLOY_YAML = Path(__file__).resolve().parents[2] / "deploy" / "dagster.yaml"


@pytest.fixture(scope="session")
def s_duckdb(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.getbasetemp() / "dbt_s_duckdb"
    db = root / "warehouse.duckdb"
    built_warehouse(world_s, f"duckdb:///{db}", root / "dbt")
    return db


def test_dbt_assets_run_on_postgres_instance_and_warehouse_and_match_duckdb(
    world_s: Path,
    s_duckdb: Path,
    postgres_server: PostgresServer,
    postgres_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the instance: deploy/dagster.yaml as shipped, its variables pointing at the server
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(DEPLOY_YAML, dagster_home / "dagster.yaml")
    postgres_server.create_database("dagster_storage")
    for key, value in {
        "Q2C_DAGSTER_PG_HOST": postgres_server.host,
        "Q2C_DAGSTER_PG_PORT": str(postgres_server.port),
        "Q2C_DAGSTER_PG_USER": postgres_server.user,
        "Q2C_DAGSTER_PG_PASSWORD": "",
        "Q2C_DAGSTER_PG_DATABASE": "dagster_storage",
        "DAGSTER_HOME": str(dagster_home),
        "Q2C_WAREHOUSE_URL": postgres_db,
    }.items():
        monkeypatch.setenv(key, value)
    load_raw_from_world(world_s, postgres_db)

    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        result = dg.execute_job(dg.reconstructable(dbt_models_job), instance=instance)
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        run = instance.get_run_by_id(result.run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        assert result.job_def.executor_def.name == "multiprocess"
        for key in (["marts", "fct_invoices"], ["reconciliation", "rec_breaks"]):
            assert instance.get_latest_materialization_event(dg.AssetKey(key)) is not None
        checks = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
        assert checks, "dbt tests did not run as asset checks"
        assert all(e.event_specific_data.passed for e in checks)

    dcon = duckdb.connect(str(s_duckdb), read_only=True)
    with psycopg.connect(postgres_db) as pcon:
        try:
            for relation, columns in COMPARED.items():
                on_duckdb = _rows(lambda q: dcon.execute(q).fetchall(), relation, columns)
                on_postgres = _rows(lambda q: pcon.execute(q).fetchall(), relation, columns)
                assert on_postgres == on_duckdb, f"{relation} differs between targets"
        finally:
            dcon.close()
