"""The whole pipeline wired against stand-ins over a world, for end-to-end tests.

`pipeline_against(world, root)` starts the stand-ins over `world`, points the pipeline's
environment at them (with `Q2C_HOME`, a DuckDB warehouse and `DAGSTER_HOME` under `root`, and
whatever else the stand-ins print, e.g. `Q2C_POLICY_FILE` for a company with its own
contract), builds the code location's definitions for that environment and opens a temporary
Dagster instance; the caller runs assets with `orchestration.commands.run.run_assets`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from orchestration.definitions import build_definitions
from orchestration.environment import current_environment
from sandbox.services import RunningSandbox, start_services


@dataclass(frozen=True)
class Pipeline:
    """What an end-to-end test drives: the stand-ins, the definitions, the instance."""

    sandbox: RunningSandbox
    env: dict[str, str]
    defs: dg.Definitions
    instance: dg.DagsterInstance
    warehouse: Path


@contextmanager
def pipeline_against(
    world: Path, root: Path, faults: dict[str, Any] | None = None
) -> Iterator[Pipeline]:
    """The pipeline against stand-ins over `world`, its state under `root` (see the module)."""
    warehouse = root / "warehouse.duckdb"
    with start_services(world, faults, root / "sandbox") as sandbox:
        env = {
            **sandbox.env,
            "Q2C_HOME": str(root / "home"),
            "Q2C_WAREHOUSE_URL": f"duckdb:///{warehouse}",
            "DAGSTER_HOME": str(root / "dagster"),
        }
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            defs = build_definitions(current_environment(env))
            (root / "dagster").mkdir()
            with dg.DagsterInstance.local_temp(str(root / "dagster")) as instance:
                yield Pipeline(sandbox, env, defs, instance, warehouse)


#: every variable `build_dbt_resource` writes into os.environ: set through a MonkeyPatch first,
#: so what a run leaves behind is undone for the rest of the session
DBT_VARIABLES = (
    "Q2C_DBT_TARGET",
    "Q2C_DUCKDB_PATH",
    "Q2C_PG_HOST",
    "Q2C_PG_PORT",
    "Q2C_PG_USER",
    "Q2C_PG_PASSWORD",
    "Q2C_PG_DATABASE",
)


def salesforce_journal(sandbox: RunningSandbox, since: int = 0) -> list[dict[str, Any]]:
    """The Salesforce stand-in's write journal after sequence number `since`."""
    import httpx

    url = sandbox.control_url("salesforce") + "/__sandbox/journal"
    verify: Any = sandbox.env.get("Q2C_SALESFORCE_CA_BUNDLE") or True
    resp = httpx.get(url, params={"since_seq": since, "limit": 100000}, verify=verify, timeout=30)
    resp.raise_for_status()
    return resp.json()


def _copy_duckdb(src: Path, dst: Path) -> Path:
    """A copy of a closed DuckDB file (and its WAL, if one was left)."""
    import shutil

    shutil.copy(src, dst)
    wal = src.with_name(src.name + ".wal")
    if wal.exists():
        shutil.copy(wal, dst.with_name(dst.name + ".wal"))
    return dst


#: loggers recorded at DEBUG while the shared runs run (q2c's, Dagster's, dagster-dbt's); others
#: at their own level (HTTP clients' DEBUG traces carry no payloads, only slow the run)
DEBUG_LOGGERS = ("q2c", "extractors", "orchestration", "dagster", "dagster_dbt")


@contextmanager
def recorded_output(root: Path) -> Iterator[None]:
    """Every Python log record (our loggers at DEBUG) into `root/python.log` through a plain
    handler with no filter of its own (what the installed masking leaves is what a deployment's
    handlers write), and what is printed to stdout (dbt's lines) into `root/stdout.log`."""
    import logging
    from contextlib import redirect_stdout

    handler = logging.FileHandler(root / "python.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    levels = {name: logging.getLogger(name).level for name in DEBUG_LOGGERS}
    logging.getLogger().addHandler(handler)
    for name in DEBUG_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        with (root / "stdout.log").open("w", encoding="utf-8") as out, redirect_stdout(out):
            yield
    finally:
        logging.getLogger().removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        handler.close()


def two_runs_over(world_src: Path, root: Path) -> dict[str, Any]:
    """Two whole-pipeline runs (`run_assets`, as `q2c run`) over a copy of `world_src`.

    Records what the end-to-end tests read, so one pair of runs serves them all: both
    `RunSummary`s, the warehouse after the first run (`warehouse_after_first`, a copy) and after
    the second (`warehouse`), the world as the runs left it, the Salesforce stand-in's write
    journal of each run and every Dagster log message of both runs; `root` keeps DAGSTER_HOME
    (`dagster/`), Q2C_HOME (`home/`) and the runs' Python logs and stdout (`recorded_output`,
    for the PII scan). Everything is picklable
    (`tests.conftest.s_pipeline_runs` shares it between xdist workers).
    """
    import shutil

    from orchestration.commands.run import run_assets

    root.mkdir(parents=True, exist_ok=True)
    world = root / "world"
    shutil.copytree(world_src, world)
    with pytest.MonkeyPatch.context() as mp:
        for key in DBT_VARIABLES:
            mp.setenv(key, "")
        with pipeline_against(world, root) as p, recorded_output(root):
            start = salesforce_journal(p.sandbox)
            start_seq = start[-1]["seq"] if start else 0
            first = run_assets(p.defs, p.instance)
            after_first = _copy_duckdb(p.warehouse, root / "after_first.duckdb")
            journal_first = salesforce_journal(p.sandbox, start_seq)
            mid = journal_first[-1]["seq"] if journal_first else start_seq
            second = run_assets(p.defs, p.instance)
            journal_second = salesforce_journal(p.sandbox, mid)
            logs = [
                f"{e.user_message} {e.dagster_event.event_specific_data or ''}"
                if e.dagster_event
                else str(e.user_message)
                for run in (first, second)
                for e in p.instance.all_logs(run.run_id)
            ]
    return {
        "first": first,
        "second": second,
        "world": world,
        "warehouse": p.warehouse,
        "warehouse_after_first": after_first,
        "journal_first": journal_first,
        "journal_second": journal_second,
        "logs": logs,
    }


def private_copy(runs: dict[str, Any], root: Path) -> dict[str, Any]:
    """`runs` with its warehouses copied under `root`: a module may open them read-write and
    another xdist worker may read the shared ones at the same time (DuckDB locks the file)."""
    root.mkdir(parents=True, exist_ok=True)
    return {
        **runs,
        "warehouse": _copy_duckdb(runs["warehouse"], root / "warehouse.duckdb"),
        "warehouse_after_first": _copy_duckdb(
            runs["warehouse_after_first"], root / "after_first.duckdb"
        ),
    }
