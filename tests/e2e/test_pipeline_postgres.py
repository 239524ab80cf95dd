"""The whole pipeline on PostgreSQL: Dagster instance and warehouse, multiprocess executor.

Contract checked here (issue 6, "Postgres end to end"):
- a copy of the session's S world is served by the real stand-ins; the code location as
  deployed (`orchestration.definitions.defs`, built from the `Q2C_*` variables of the
  environment by the executor's forkserver, a fresh interpreter from which every step process
  forks) runs its implicit asset job (every raw extract of billing, Salesforce and ERP
  plus the dbt assets) through `dg.execute_job` with the multiprocess executor;
- the Dagster instance is `deploy/dagster.yaml` as shipped (dagster-postgres run, event-log and
  schedule storage) pointed at one fresh database of the suite's throwaway server, and the
  warehouse (`Q2C_WAREHOUSE_URL=postgresql://...`) is another fresh database there;
- the same world through the same definitions on a DuckDB warehouse (in-process, as
  `q2c run` does) gives the same rows in every table of `marts`, `reconciliation`, `exports`
  and `sync`, compared after normalising the types the two drivers return; the one value that
  differs by construction, the warehouse's as-of time (the wall clock of its latest landing,
  `intermediate.int_warehouse__as_of`), is compared as a placeholder.

One module-scoped fixture does the Postgres run and takes the DuckDB one from the session's
shared pair of runs (`s_pipeline_runs`); the tests only read what it recorded.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import psycopg
import pytest
from dagster._core.definitions.assets.job.asset_job import IMPLICIT_ASSET_JOB_NAME
from dagster._core.definitions.reconstruct import ReconstructableRepository

from orchestration.assets.dbt import dbt_environment
from orchestration.commands.run import RunSummary
from orchestration.gates import GATE_CHECK_SUFFIX
from sandbox.services import start_services
from tests.support.pipeline import DBT_VARIABLES, private_copy
from tests.support.postgres import PostgresServer

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_YAML = REPO_ROOT / "deploy" / "dagster.yaml"
MODELED_SCHEMAS = ("marts", "reconciliation", "exports", "sync")
# columns that say when and by which run a Python asset wrote a row: they differ between two
# runs by construction (the rows themselves must be equal)
RUN_COLUMNS = {"reconciliation.compliance_holds": {"since", "recorded_at", "run_id"}}
# step processes fork from a forkserver that imported the code location once (Dagster's
# documented `start_method`): each step process is still its own process with the definitions
# built from the environment, without paying a fresh interpreter's imports and definitions
# build (some 4 s of CPU) for each of the run's 34 steps
FORKSERVER = {"forkserver": {"preload_modules": ["orchestration.definitions"]}}
MULTIPROCESS = {
    "execution": {"config": {"multiprocess": {"max_concurrent": 2, "start_method": FORKSERVER}}},
    "loggers": {"console": {"config": {"log_level": "WARNING"}}},
}
AS_OF = "<the warehouse's as-of time>"

Fetch = Callable[[str], list[tuple[Any, ...]]]


@pytest.fixture(scope="module")
def pipeline(
    world_s: Path,
    postgres_server: PostgresServer,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[dict[str, Any]]:
    """The whole pipeline on Postgres (multiprocess) and on DuckDB (in-process), one world."""
    root = tmp_path_factory.mktemp("e2e_pg")
    world = root / "world"
    shutil.copytree(world_s, world)
    suffix = uuid.uuid4().hex[:8]
    instance_db = f"q2c_dagster_{suffix}"
    postgres_server.create_database(instance_db)
    warehouse_pg = postgres_server.create_database(f"q2c_warehouse_{suffix}")
    dagster_home = root / "dagster_pg"
    dagster_home.mkdir()
    shutil.copy(DEPLOY_YAML, dagster_home / "dagster.yaml")

    out: dict[str, Any] = {"world": world, "warehouse_pg": warehouse_pg, "instance_db": instance_db}
    with (
        start_services(world, None, root / "sandbox") as sandbox,
        pytest.MonkeyPatch.context() as mp,
    ):
        for key in DBT_VARIABLES:
            mp.setenv(key, "")
        # step processes of the multiprocess executor re-import orchestration.definitions,
        # whose `defs` reads these from their (inherited) environment
        for key, value in {
            **sandbox.env,
            "Q2C_HOME": str(root / "home_pg"),
            "Q2C_WAREHOUSE_URL": warehouse_pg,
            "DAGSTER_HOME": str(dagster_home),
            "Q2C_DAGSTER_PG_HOST": postgres_server.host,
            "Q2C_DAGSTER_PG_PORT": str(postgres_server.port),
            "Q2C_DAGSTER_PG_USER": postgres_server.user,
            "Q2C_DAGSTER_PG_PASSWORD": "",
            "Q2C_DAGSTER_PG_DATABASE": instance_db,
            **dbt_environment(warehouse_pg),
        }.items():
            mp.setenv(key, value)
        try:
            out.update(_run_on_postgres())
        finally:
            _stop_forkserver()

    # the DuckDB side is the session's shared first run over a fresh copy of the same world
    # (`s_pipeline_runs`, also read by the DuckDB end-to-end tests), asked for only now so
    # another xdist worker can have made it while this one ran Postgres
    runs = private_copy(request.getfixturevalue("s_pipeline_runs"), root / "duck")
    warehouse_duck = runs["warehouse_after_first"]
    out["duckdb_summary"] = runs["first"]
    out["duckdb_seconds"] = runs["first"].seconds

    with psycopg.connect(warehouse_pg) as conn:
        out["tables_pg"] = _modeled_tables(lambda q: conn.execute(q).fetchall())
    with duckdb.connect(str(warehouse_duck), read_only=True) as conn:
        out["tables_duck"] = _modeled_tables(lambda q: conn.execute(q).fetchall())
        out["raw_billing_duck"] = _raw_billing_counts(lambda q: conn.execute(q).fetchall())
    with psycopg.connect(warehouse_pg) as conn:
        out["raw_billing_pg"] = _raw_billing_counts(lambda q: conn.execute(q).fetchall())
    yield out


def _stop_forkserver() -> None:
    """End the executor's forkserver with the run: it holds the definitions it imported, built
    for this module's environment (multiprocessing has no public way to stop it)."""
    from multiprocessing import forkserver

    stop = getattr(forkserver._forkserver, "_stop", None)
    if stop is not None:
        stop()


def _run_on_postgres() -> dict[str, Any]:
    """Execute the code location's implicit asset job with the multiprocess executor."""
    recon_job = ReconstructableRepository.for_module(
        "orchestration.definitions", "defs", working_directory=str(REPO_ROOT)
    ).get_reconstructable_job(IMPLICIT_ASSET_JOB_NAME)
    started = time.monotonic()
    with dg.DagsterInstance.get() as instance:
        storages = {
            "run": type(instance.run_storage).__name__,
            "event_log": type(instance.event_log_storage).__name__,
            "schedule": type(instance.schedule_storage).__name__,
        }
        # the unpartitioned assets, as `q2c run` selects them: the daily ERP export runs per
        # partition (its gate passes at S, so it is no longer skipped behind a refusal)
        from orchestration.definitions import defs

        graph_keys = defs.resolve_asset_graph()
        unpartitioned = [
            k for k in graph_keys.materializable_asset_keys
            if graph_keys.get(k).partitions_def is None
        ]  # fmt: skip
        result = dg.execute_job(
            recon_job, instance=instance, run_config=MULTIPROCESS, asset_selection=unpartitioned
        )
        seconds = time.monotonic() - started
        events = list(result.all_events)
        run = instance.get_run_by_id(result.run_id)
        job_def = result.job_def
        executor = job_def.executor_def.name
        graph = job_def.asset_layer.asset_graph
        # a run without a partition key builds the unpartitioned assets (the daily ERP export
        # has its own job and schedule), as `q2c run` does
        selected_keys = {
            k.to_user_string()
            for k in graph.materializable_asset_keys
            if graph.get(k).partitions_def is None
        }
    materialized = {
        e.asset_key.to_user_string()
        for e in events
        if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
    }
    # a refused output gate fails its blocking check step by design (the flow behind it is
    # skipped), as `q2c run` reports (run.py); the test expects none at S
    step_failures = [e for e in events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    failures = [
        f"{e.step_key}: {_error_text(e.step_failure_data.error)}"
        for e in step_failures
        if not (e.step_key or "").endswith(GATE_CHECK_SUFFIX)
    ]
    gates_refused = sorted(
        e.step_key or "" for e in step_failures if (e.step_key or "").endswith(GATE_CHECK_SUFFIX)
    )
    step_pids = {e.pid for e in events if e.event_type == dg.DagsterEventType.STEP_START}
    return {
        "pg_success": result.success,
        "pg_run_id": result.run_id,
        "pg_run_status": run.status if run else None,
        "pg_seconds": seconds,
        "pg_storages": storages,
        "pg_executor": executor,
        "pg_selected": len(selected_keys),
        "pg_selected_keys": selected_keys,
        "pg_materialized": materialized,
        "pg_failures": failures,
        "pg_gates_refused": gates_refused,
        "pg_step_pids": step_pids,
    }


def _error_text(error: Any) -> str:
    return error.to_string() if error is not None else "failed"


def _norm(value: Any) -> Any:
    """One comparable form for what duckdb and psycopg return for the same SQL value."""
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else format(value.normalize(), "f")
    if isinstance(value, float):
        return int(value) if value.is_integer() else format(Decimal(repr(value)).normalize(), "f")
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def _modeled_tables(fetch: Fetch) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of the modeled schemas: its rows, normalised and sorted."""
    schemas = ", ".join(f"'{s}'" for s in MODELED_SCHEMAS)
    tables = fetch(
        "select table_schema, table_name from information_schema.tables "
        f"where table_schema in ({schemas}) and table_type = 'BASE TABLE' order by 1, 2"
    )
    # the warehouse's as-of time is the wall clock of its latest landing, so it differs
    # between two runs by construction; breaks dated "as of now" carry it (occurred_at)
    ((as_of,),) = fetch("select as_of_at from intermediate.int_warehouse__as_of")
    as_of = _norm(as_of)
    out: dict[str, list[tuple[Any, ...]]] = {}
    for schema, table in tables:
        run_columns = RUN_COLUMNS.get(f"{schema}.{table}", set())
        columns = [
            c
            for (c,) in fetch(
                "select column_name from information_schema.columns "
                f"where table_schema = '{schema}' and table_name = '{table}' "
                "order by column_name"
            )
            if c not in run_columns
        ]
        select = ", ".join(f'"{c}"' for c in columns)
        rows = [
            tuple(AS_OF if (v := _norm(value)) == as_of else v for value in row)
            for row in fetch(f'select {select} from "{schema}"."{table}"')
        ]
        out[f"{schema}.{table}"] = sorted(rows, key=repr)
    return out


def _raw_billing_counts(fetch: Fetch) -> dict[str, int]:
    tables = fetch("select table_name from information_schema.tables where table_schema = 'raw'")
    return {
        t.removeprefix("billing__"): fetch(f'select count(distinct object_id) from raw."{t}"')[0][0]
        for (t,) in tables
        if t.startswith("billing__")
    }


def _truth(world: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(world / "truth.sqlite") as conn:
        return conn.execute(sql).fetchall()


def _failures(summary: RunSummary) -> str:
    return "\n".join(f"{f['step']}: {f['error']}" for f in summary.failed_steps)


def test_run_succeeds_with_multiprocess_executor_on_postgres_instance(
    pipeline: dict[str, Any],
) -> None:
    print(
        f"postgres run: {pipeline['pg_selected']} assets, {len(pipeline['pg_step_pids'])} step "
        f"processes, {pipeline['pg_seconds']:.1f} s; "
        f"duckdb run: {pipeline['duckdb_seconds']:.1f} s"
    )
    # nothing failed, and no output gate refuses its whole batch: the S world's injected breaks
    # hold only the records they concern (reconciliation.gate_holds)
    assert not pipeline["pg_failures"], "\n".join(pipeline["pg_failures"])
    assert not pipeline["pg_gates_refused"], pipeline["pg_gates_refused"]
    assert pipeline["pg_run_status"] == dg.DagsterRunStatus.SUCCESS
    assert pipeline["pg_success"]
    assert pipeline["pg_executor"] == "multi_or_in_process_executor"
    # the multiprocess executor ran the steps in their own processes
    assert len(pipeline["pg_step_pids"]) > 1
    assert os.getpid() not in pipeline["pg_step_pids"]
    assert pipeline["pg_storages"] == {
        "run": "PostgresRunStorage",
        "event_log": "PostgresEventLogStorage",
        "schedule": "PostgresScheduleStorage",
    }
    # every asset was built, the write-back behind the gates included (as on DuckDB)
    assert pipeline["pg_selected_keys"] <= pipeline["pg_materialized"]
    for prefix in ("raw/billing/", "raw/salesforce/", "raw/erp/", "marts/", "reconciliation/"):
        assert any(k.startswith(prefix) for k in pipeline["pg_materialized"]), prefix


def test_the_run_is_stored_in_the_postgres_instance_database(
    pipeline: dict[str, Any], postgres_server: PostgresServer
) -> None:
    with psycopg.connect(postgres_server.url(pipeline["instance_db"])) as conn:
        runs = conn.execute(
            "select run_id, status from runs where run_id = %s", (pipeline["pg_run_id"],)
        ).fetchall()
        (materializations,) = conn.execute(
            "select count(*) from event_logs where run_id = %s and dagster_event_type = %s",
            (pipeline["pg_run_id"], "ASSET_MATERIALIZATION"),
        ).fetchone()
    assert runs == [(pipeline["pg_run_id"], "SUCCESS")]
    assert materializations == len(pipeline["pg_materialized"])


def test_raw_billing_on_postgres_equals_the_world(pipeline: dict[str, Any]) -> None:
    truth = dict(
        _truth(
            pipeline["world"],
            "select object, n from counts where system = 'billing' and object not like '%:%'",
        )
    )
    assert truth, "the world has no billing counts"
    landed = pipeline["raw_billing_pg"]
    assert {obj: landed.get(obj) for obj in truth} == truth
    assert pipeline["raw_billing_duck"] == landed


def test_duckdb_run_succeeds(pipeline: dict[str, Any]) -> None:
    summary: RunSummary = pipeline["duckdb_summary"]
    assert summary.success, _failures(summary)
    assert {a.asset for a in summary.assets} == pipeline["pg_materialized"]


def test_every_modeled_table_has_the_same_rows_on_postgres_and_duckdb(
    pipeline: dict[str, Any],
) -> None:
    on_pg, on_duck = pipeline["tables_pg"], pipeline["tables_duck"]
    assert on_duck, "no modeled tables were built on DuckDB"
    assert sorted(on_pg) == sorted(on_duck)
    assert any(on_pg.values()), "every modeled table is empty"
    differing = [name for name in on_duck if on_pg[name] != on_duck[name]]
    details = {
        name: {
            "only_pg": [r for r in on_pg[name] if r not in set(on_duck[name])][:3],
            "only_duckdb": [r for r in on_duck[name] if r not in set(on_pg[name])][:3],
        }
        for name in differing
    }
    assert differing == [], json.dumps(details, default=str, indent=1)
