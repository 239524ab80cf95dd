"""The dbt project as Dagster assets: staging -> intermediate -> marts -> rec_/export_/sync_.

Contract:
- `dbt_assets_list` is what `orchestration/definitions.py` adds to its assets; the assets need a
  resource named `dbt`, built by `build_dbt_resource(warehouse_url)`.
- (No `from __future__ import annotations` here: Dagster inspects the `context` annotation.)
- One `@dbt_assets` over the whole project (models, seeds, snapshots; dbt tests become asset
  checks). The body is one `dbt build` streamed back to Dagster; the CLI arguments come from
  `dbt_build_args`, a pure function.
- Raw landing tables are dbt sources; their asset keys are `raw/<source>/<object>` so the
  extract assets (`raw/billing/invoice`, ...) are the upstreams of staging.
- The warehouse is chosen by one URL (`Q2C_WAREHOUSE_URL`): `dbt_environment` turns it into
  the variables `dbt_project/profiles.yml` reads (`Q2C_DBT_TARGET`, `Q2C_DUCKDB_PATH`,
  `Q2C_PG_*`). DuckDB allows one writing process, so the assets run in the `warehouse` pool.
"""

import json
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from orchestration.policies import WAREHOUSE_POOL
from q2c.policy.dbt_seeds import dbt_vars
from q2c.policy.loader import load_contract

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
RAW_SOURCES = frozenset({"billing", "salesforce", "erp"})


def dbt_environment(warehouse_url: str) -> dict[str, str]:
    """The environment `profiles.yml` reads for a warehouse URL.

    Args:
        warehouse_url: `duckdb:///<path>` or `postgresql://user:password@host:port/database`.

    Returns:
        `Q2C_DBT_TARGET` plus the connection variables of that target.

    Raises:
        ValueError: for any other URL scheme, or a Postgres URL without a database.
    """
    if warehouse_url.startswith("duckdb:///"):
        path = Path(warehouse_url.removeprefix("duckdb:///")).absolute()
        return {"Q2C_DBT_TARGET": "duckdb", "Q2C_DUCKDB_PATH": str(path)}
    if warehouse_url.startswith(("postgresql://", "postgres://")):
        url = urlparse(warehouse_url)
        database = url.path.lstrip("/")
        if not database:
            raise ValueError("the Postgres warehouse URL names no database (postgresql://.../db)")
        return {
            "Q2C_DBT_TARGET": "postgres",
            "Q2C_PG_HOST": url.hostname or "127.0.0.1",
            "Q2C_PG_PORT": str(url.port or 5432),
            "Q2C_PG_USER": unquote(url.username or "postgres"),
            "Q2C_PG_PASSWORD": unquote(url.password or ""),
            "Q2C_PG_DATABASE": unquote(database),
        }
    raise ValueError(
        f"unsupported warehouse URL scheme in {warehouse_url.split(':', 1)[0]!r}:"
        " use duckdb:///<path> or postgresql://..."
    )


def dbt_build_args(
    *, full_refresh: bool = False, dbt_vars: Mapping[str, Any] | None = None
) -> list[str]:
    """The `dbt build` command line of one materialization.

    Dagster adds `--select` for the asset subset being materialized.

    Args:
        full_refresh: rebuild incremental models and snapshots from scratch.
        dbt_vars: `--vars` for the project (JSON-encoded, keys sorted for stable logs).

    Returns:
        The arguments after `dbt`.
    """
    args = ["build"]
    if full_refresh:
        args.append("--full-refresh")
    if dbt_vars:
        args += ["--vars", json.dumps(dict(dbt_vars), sort_keys=True)]
    return args


def asset_key_for(resource_props: Mapping[str, Any]) -> dg.AssetKey:
    """Asset key of a dbt node: raw sources `raw/<source>/<object>`, other sources
    `<source>/<table>` (`ops/export_ledger`), models, seeds and snapshots `<schema>/<name>`."""
    if resource_props["resource_type"] == "source":
        if resource_props["source_name"] in RAW_SOURCES:
            return dg.AssetKey(["raw", resource_props["source_name"], resource_props["name"]])
        # pipeline state the dbt project reads (ops.export_ledger): ops/<table>
        return dg.AssetKey([resource_props["source_name"], resource_props["name"]])
    schema = resource_props.get("config", {}).get("schema") or resource_props.get("schema")
    if resource_props["resource_type"] in {"model", "snapshot", "seed"} and schema:
        return dg.AssetKey([schema, resource_props["name"]])
    return dg.AssetKey([resource_props["name"]])


def group_for(resource_props: Mapping[str, Any]) -> str | None:
    """Dagster group of a dbt node: the layer it belongs to (staging, marts, reconciliation...)."""
    return resource_props.get("config", {}).get("schema") or None


class Q2cDbtTranslator(DagsterDbtTranslator):
    """Keys and groups from the layer layout (see `asset_key_for`, `group_for`)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        return asset_key_for(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return group_for(dbt_resource_props)


@cache
def q2c_dbt_project() -> DbtProject:
    """The cached project; writes the manifest (`dbt parse`) when none exists yet."""
    put_venv_dbt_on_path()
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    if not project.manifest_path.exists():
        project.preparer.prepare(project)
    else:
        project.prepare_if_dev()
    return project


def build_dbt_resource(warehouse_url: str) -> DbtCliResource:
    """The `dbt` resource for a warehouse URL.

    Exports `dbt_environment(warehouse_url)` into this process's environment, which the dbt
    subprocesses inherit; call it from the one place that decides the environment.
    """
    os.environ.update(dbt_environment(warehouse_url))
    project = q2c_dbt_project()
    return DbtCliResource(project_dir=project, profiles_dir=str(DBT_PROJECT_DIR))


def put_venv_dbt_on_path() -> None:
    """Put this interpreter's bin dir (the venv's) on PATH when `dbt` is not there.

    dagster-dbt runs `dbt` from PATH, also when it writes the manifest of a fresh clone, and
    `.venv/bin/q2c` runs without an activated venv.
    """
    bindir = Path(sys.executable).parent
    if shutil.which("dbt") is None and (bindir / "dbt").exists():
        os.environ["PATH"] = f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"


_project = q2c_dbt_project()


@dbt_assets(
    manifest=_project.manifest_path,
    project=_project,
    dagster_dbt_translator=Q2cDbtTranslator(),
    pool=WAREHOUSE_POOL,
)
def q2c_dbt_models(context: AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    """Build and test the whole dbt project (or the selected subset) in the warehouse, with
    the dbt vars of this process's contract (`Q2C_POLICY_FILE`: its finance rules and company
    mapping, so another org's field names and labels apply without editing the project)."""
    args = dbt_build_args(dbt_vars=dbt_vars(load_contract()))
    yield from dbt.cli(args, context=context).stream()


dbt_assets_list: list[dg.AssetsDefinition] = [q2c_dbt_models]


def dbt_definitions(warehouse_url: str) -> dg.Definitions:
    """The dbt layer alone against one warehouse: its assets, their `dbt` resource and the
    job `dbt_models` (multiprocess executor). For rebuilding the models without extracting."""
    return dg.Definitions(
        assets=dbt_assets_list,
        resources={"dbt": build_dbt_resource(warehouse_url)},
        jobs=[
            dg.define_asset_job("dbt_models", selection=dg.AssetSelection.assets(*dbt_assets_list))
        ],
        executor=dg.multiprocess_executor,
    )


def dbt_models_job() -> dg.JobDefinition:
    """The `dbt_models` job for the warehouse named by `Q2C_WAREHOUSE_URL` when called (a
    `dg.reconstructable` target: run workers rebuild it in their own process)."""
    return dbt_definitions(os.environ["Q2C_WAREHOUSE_URL"]).resolve_job_def("dbt_models")
