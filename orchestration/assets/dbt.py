"""The dbt project as Dagster assets: staging -> intermediate -> marts -> rec_/export_/sync_.

Contract:
- `dbt_assets_list` is what `orchestration/definitions.py` adds to its assets; the assets need a
  resource named `dbt`, built by `build_dbt_resource(warehouse_url)`.
- (No `from __future__ import annotations` here: Dagster inspects the `context` annotation.)
- One `@dbt_assets` over the whole project (models, seeds, snapshots; dbt tests become asset
  checks). The body is one `dbt build` streamed back to Dagster; the CLI arguments come from
  `dbt_build_args`, a pure function. It is a `--full-refresh` of the incremental (staging)
  models when `decide_full_refresh` says so (the run tag `q2c/full_refresh`, else
  q2c/dbt_refresh.py: first build, changed project, the Settings cadence, an erasure); a whole
  build that succeeded is recorded in `ops.dbt_builds`.
- No build at all when nothing dbt reads changed since the last whole build that succeeded
  (q2c/dbt_skip.py: the whole project, its vars and seeds, and a content fingerprint of every
  relation the project reads), unless a full refresh is requested or due, or the run has the
  tag `q2c/dbt_rebuild` (`q2c run --rebuild`). The asset then yields each selected asset's
  materialization with `dbt_skipped` (the reason) in its metadata, and the last build's dbt
  test results again as the same asset check results, so the gates and everything downstream
  run as after that build (`unchanged_build_events`).
- Raw landing tables are dbt sources; their asset keys are `raw/<source>/<object>` so the
  extract assets (`raw/billing/invoice`, ...) are the upstreams of staging.
- The warehouse is chosen by one URL (`Q2C_WAREHOUSE_URL`): `dbt_environment` turns it into
  the variables `dbt_project/profiles.yml` reads (`Q2C_DBT_TARGET`, `Q2C_DUCKDB_PATH`,
  `Q2C_PG_*`), which `WarehouseDbtCliResource` hands to each dbt process it starts (the
  process's own environment is left as it was). DuckDB allows one writing process, so the
  assets run in the `warehouse` pool.
"""

import contextlib
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from dagster_dbt.asset_utils import (
    get_asset_check_key_for_test,
    get_checks_on_sources_upstream_of_selected_assets,
    get_manifest_and_translator_from_dbt_assets,
)
from dagster_dbt.dbt_project import DagsterDbtProjectPreparer

from orchestration.docs_links import docs_url
from orchestration.gates import import_suites_in_background
from orchestration.log_masking import masked_stdout
from orchestration.policies import WAREHOUSE_POOL
from q2c import dbt_skip
from q2c.dbt_refresh import full_refresh_reason, project_digest, record_build
from q2c.policy.dbt_seeds import SEED_DIR_VARIABLE, dbt_vars, seeds_dir_for
from q2c.policy.loader import load_contract
from q2c.settings import child_process_environment, load_settings
from q2c.warehouse import Warehouse, WarehouseUrl
from q2c.warehouse_roles import reapply_roles_if_present

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
    url = WarehouseUrl.parse(warehouse_url)
    if url.path is not None:
        return {"Q2C_DBT_TARGET": "duckdb", "Q2C_DUCKDB_PATH": str(url.path.absolute())}
    return {
        "Q2C_DBT_TARGET": "postgres",
        "Q2C_PG_HOST": url.host,
        "Q2C_PG_PORT": str(url.port),
        "Q2C_PG_USER": url.user,
        "Q2C_PG_PASSWORD": url.password,
        "Q2C_PG_DATABASE": url.database,
    }


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
    # Unit tests prove the SQL on fixed inputs; they belong to CI (tests/integration run them),
    # not to a production build, where a failing one would skip its model and everything
    # downstream of it (dbt builds a model only after its unit tests pass): one company's vars
    # must never cost finance the break list.
    args = ["build", "--exclude-resource-type", "unit_test"]
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

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        """dagster-dbt's spec plus `dbt_docs`: the node's page in `q2c docs` (the catalog
        links each dbt asset to its description, columns, tests and lineage)."""
        spec = super().get_asset_spec(manifest, unique_id, project)
        url = docs_url(unique_id)
        if url is None:
            return spec
        return spec.merge_attributes(metadata={"dbt_docs": dg.MetadataValue.url(url)})


def dbt_executable() -> str:
    """`dbt` from PATH, else the one beside this interpreter (`.venv/bin/q2c` runs without an
    activated venv)."""
    beside = Path(sys.executable).parent / "dbt"
    return shutil.which("dbt") or (str(beside) if beside.exists() else "dbt")


class _Preparer(DagsterDbtProjectPreparer):
    """Writes the manifest (`dbt parse`) with `dbt_executable()` rather than whatever PATH has."""

    def _prepare_manifest(self, project: DbtProject) -> None:
        DbtCliResource(project_dir=project, dbt_executable=dbt_executable()).cli(
            self._prepare_project_cli_args, target_path=project.target_path
        ).wait()


#: What `dbt parse` reads: a change to any of these makes the manifest stale.
PROJECT_SOURCES = ("dbt_project.yml", "models", "macros", "seeds", "snapshots", "tests")


def manifest_is_stale(project_dir: Path, manifest: Path) -> bool:
    """True when `manifest` is missing or older than a file of the project it was parsed from."""
    if not manifest.exists():
        return True
    written = manifest.stat().st_mtime
    for name in PROJECT_SOURCES:
        root = project_dir / name
        paths = [root] if root.is_file() else root.rglob("*") if root.exists() else []
        if any(path.is_file() and path.stat().st_mtime > written for path in paths):
            return True
    return False


@cache
def q2c_dbt_project() -> DbtProject:
    """The cached project; writes the manifest (`dbt parse`) when none exists yet or when a
    project file changed after it was written (a stale manifest names nodes dbt no longer has,
    and the run fails on them)."""
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    if manifest_is_stale(DBT_PROJECT_DIR, project.manifest_path):
        _Preparer().prepare(project)
    else:
        _Preparer().prepare_if_dev(project)
    return project


def contract_seeds_dir() -> Path | None:
    """The policy seeds this process's contract (`Q2C_POLICY_FILE`) compiles to when they are
    not the committed ones (written under `$Q2C_HOME/dbt_seeds`); None for the shipped one."""
    return seeds_dir_for(
        load_contract(), DBT_PROJECT_DIR / "seeds", load_settings().home / "dbt_seeds"
    )


def contract_seed_environment() -> dict[str, str]:
    """`Q2C_DBT_SEED_DIR` for the dbt process when the contract's seeds are not the committed
    ones (`contract_seeds_dir`); empty for the shipped contract."""
    seeds_dir = contract_seeds_dir()
    return {SEED_DIR_VARIABLE: str(seeds_dir)} if seeds_dir else {}


#: where the last build's `partial_parse.msgpack` of each warehouse is kept (see
#: `WarehouseDbtCliResource`); under dbt's gitignored target directory
PARTIAL_PARSE_CACHE = DBT_PROJECT_DIR / "target" / "q2c_partial_parse"
PARTIAL_PARSE_FILE = "partial_parse.msgpack"
PARTIAL_PARSE_KEEP = 8


class WarehouseDbtCliResource(DbtCliResource):
    """The `dbt` CLI against one warehouse: each invocation gets `dbt_environment(url)` (the
    variables `profiles.yml` reads), set only while the dbt process is started.

    Start-up: dbt parses the project again unless the `partial_parse.msgpack` in its target
    directory was written with the same vars, profile and profile variables. dagster-dbt copies
    the one `dbt parse` wrote (no vars, no warehouse), so every build parsed in full; each
    invocation here starts from the file the last one against the same warehouse left
    (`keep_partial_parse`), and dbt still checks it file by file. dbt's file log is kept at
    `info` (`DBT_LOG_LEVEL_FILE`, unless set): its `debug` default writes every query."""

    warehouse_url: str

    def partial_parse_path(self) -> Path:
        key = hashlib.sha256(self.warehouse_url.encode()).hexdigest()[:16]
        return PARTIAL_PARSE_CACHE / f"{key}.msgpack"

    def cli(self, args: Sequence[str], **kwargs: Any) -> Any:  # type: ignore[override]
        env = dbt_environment(self.warehouse_url) | contract_seed_environment()
        settings = load_settings()
        env |= settings.dbt_duckdb_environment()  # DuckDB's memory bound (README)
        env.setdefault("DBT_LOG_LEVEL_FILE", settings.dbt_log_level_file)
        target = Path(
            kwargs.get("target_path") or self._get_unique_target_path(context=kwargs.get("context"))
        )
        kwargs["target_path"] = target
        target = target if target.is_absolute() else Path(self.project_dir) / target
        saved = self.partial_parse_path()
        with contextlib.suppress(OSError):  # none kept (or unreadable): dbt parses in full
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(saved, target / PARTIAL_PARSE_FILE)
        with child_process_environment(env):
            return super().cli(args, **kwargs)


def keep_partial_parse(dbt: DbtCliResource, invocation: Any) -> None:
    """Keep the invocation's `partial_parse.msgpack` for the next one against its warehouse
    (written aside, then renamed: a concurrent reader sees the old file or the new one)."""
    if not isinstance(dbt, WarehouseDbtCliResource):
        return
    written = Path(invocation.target_path) / PARTIAL_PARSE_FILE
    if not written.exists():
        return
    saved = dbt.partial_parse_path()
    aside = saved.with_suffix(f".{os.getpid()}.tmp")
    try:
        saved.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(written, aside)
        os.replace(aside, saved)
        # one file per warehouse (2-3 MB): the most recently built ones are kept
        kept = sorted(saved.parent.glob("*.msgpack"), key=lambda p: p.stat().st_mtime)
        for old in kept[:-PARTIAL_PARSE_KEEP]:
            old.unlink(missing_ok=True)
    except OSError:  # a read-only project: the next build parses in full, nothing else changes
        aside.unlink(missing_ok=True)


def build_dbt_resource(warehouse_url: str) -> WarehouseDbtCliResource:
    """The `dbt` resource for a warehouse URL (nothing is written to the environment here)."""
    project = q2c_dbt_project()
    return WarehouseDbtCliResource(
        project_dir=project,
        profiles_dir=str(DBT_PROJECT_DIR),
        dbt_executable=dbt_executable(),
        warehouse_url=warehouse_url,
    )


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
    project_vars = dbt_vars(load_contract())
    refresh = decide_full_refresh(context, dbt, project_vars)
    skip = decide_skip(context, project_vars, refresh)
    if skip.unchanged is not None:
        import_suites_in_background()  # the gates after the dbt asset need it
        yield from unchanged_build_events(context, skip.unchanged)
        return
    skip.begin(context)
    args = dbt_build_args(full_refresh=refresh.reason is not None, dbt_vars=project_vars)
    invocation = dbt.cli(args, context=context, raise_on_error=False)
    import_suites_in_background()  # the gates after the build need it; dbt runs meanwhile
    with masked_stdout():  # dagster-dbt prints dbt's lines to stdout (the compute logs)
        yield from invocation.stream()
    keep_partial_parse(dbt, invocation)
    try:
        run_results = invocation.get_artifact("run_results.json")
    except FileNotFoundError as exc:  # dbt stopped before building anything (bad project, args)
        raise dg.Failure(description="dbt wrote no run results", allow_retries=False) from exc
    regrant_after_build(context, dbt)
    errored = errored_build_nodes(run_results)
    if not errored:
        refresh.record(context)
        skip.finish(context, run_results)
    if errored:
        raise dg.Failure(
            description=f"dbt could not build {len(errored)} node(s): {', '.join(errored[:20])}",
            metadata={"errored": errored},
            allow_retries=False,
        )


#: Dagster run tag that makes the dbt build a full refresh (`q2c run --full-refresh`).
FULL_REFRESH_TAG = "q2c/full_refresh"


@dataclass(frozen=True)
class RefreshDecision:
    """Whether this build is a full refresh (`reason`), and how to record it once it succeeded
    (only a whole-project build on a warehouse URL is recorded: a subset leaves models out)."""

    reason: str | None
    digest: str
    warehouse_url: str | None
    whole_project: bool

    def record(self, context: AssetExecutionContext) -> None:
        if not self.warehouse_url or not self.whole_project:
            return
        with Warehouse.from_url(self.warehouse_url) as wh:
            record_build(
                wh,
                full_refresh=self.reason is not None,
                reason=self.reason,
                digest=self.digest,
                run_id=context.run_id,
                now=datetime.now(UTC),
            )


def decide_full_refresh(
    context: AssetExecutionContext, dbt: DbtCliResource, project_vars: Mapping[str, Any]
) -> RefreshDecision:
    """Full refresh or incremental for this build (q2c/dbt_refresh.py says when, from the run
    tag `FULL_REFRESH_TAG`, the record of builds and Settings `dbt_full_refresh_days`)."""
    url = getattr(dbt, "warehouse_url", None)
    requested = context.run.tags.get(FULL_REFRESH_TAG, "").lower() in {"1", "true", "yes"}
    digest = project_digest(DBT_PROJECT_DIR, project_vars)
    reason: str | None = "requested" if requested else None
    if url and not requested:
        with Warehouse.from_url(url) as wh:
            reason = full_refresh_reason(
                wh,
                digest=digest,
                every_days=load_settings().dbt_full_refresh_days,
                now=datetime.now(UTC),
            )
    if reason:
        context.log.info(f"dbt build with --full-refresh: {reason}")
    return RefreshDecision(reason, digest, url, whole_project=not context.is_subset)


#: Dagster run tag that makes the dbt asset build even when nothing it reads changed
#: (`q2c run --rebuild`; `q2c/full_refresh` builds too).
REBUILD_TAG = "q2c/dbt_rebuild"


def _tag_is_set(context: AssetExecutionContext, tag: str) -> bool:
    return context.run.tags.get(tag, "").lower() in {"1", "true", "yes"}


@dataclass(frozen=True)
class SkipDecision:
    """This build's skip key (None: not a whole-project build on a warehouse URL, nothing to
    record) and, when the build can be left out, the last build whose inputs were the same."""

    key: str | None
    warehouse_url: str | None
    unchanged: dbt_skip.UnchangedBuild | None = None

    def begin(self, context: AssetExecutionContext) -> None:
        if self.key and self.warehouse_url:
            with Warehouse.from_url(self.warehouse_url) as wh:
                dbt_skip.begin_build(wh, run_id=context.run_id, key=self.key, now=datetime.now(UTC))

    def finish(self, context: AssetExecutionContext, run_results: Mapping[str, Any]) -> None:
        if self.key and self.warehouse_url:
            with Warehouse.from_url(self.warehouse_url) as wh:
                dbt_skip.finish_build(
                    wh, run_id=context.run_id, test_results=dbt_skip.dbt_test_results(run_results)
                )


def decide_skip(
    context: AssetExecutionContext, project_vars: Mapping[str, Any], refresh: RefreshDecision
) -> SkipDecision:
    """Whether this whole-project build can be left out (q2c/dbt_skip.py): never for a subset,
    a full refresh (requested or due) or a run tagged `REBUILD_TAG`; else when the latest
    whole build succeeded with the same key and every relation the project builds is there."""
    url = refresh.warehouse_url
    if not url or not refresh.whole_project:
        return SkipDecision(None, None)
    manifest, _, _ = get_manifest_and_translator_from_dbt_assets([context.assets_def])
    reads, unresolved = dbt_skip.read_relations(manifest)
    project = dbt_skip.whole_project_digest(DBT_PROJECT_DIR, project_vars, contract_seeds_dir())
    with Warehouse.from_url(url) as wh:
        key = dbt_skip.skip_key(wh, project, reads)
        why_build = None
        if refresh.reason:
            why_build = f"full refresh ({refresh.reason})"
        elif _tag_is_set(context, REBUILD_TAG):
            why_build = "rebuild requested"
        elif unresolved:
            why_build = f"reads a relation it cannot fingerprint: {', '.join(unresolved)}"
        elif (last := dbt_skip.unchanged_build(wh, key)) is None:
            why_build = "its inputs changed since the last build (or it did not succeed)"
        elif missing := dbt_skip.missing_relations(wh, dbt_skip.built_relations(manifest)):
            why_build = f"{len(missing)} built relation(s) missing, e.g. {missing[0]}"
    if why_build:
        context.log.info(f"dbt build: {why_build}")
        return SkipDecision(key, url)
    context.log.info(f"dbt build left out: nothing it reads changed since run {last.run_id}")
    return SkipDecision(key, url, last)


def in_dependency_order(
    assets_def: dg.AssetsDefinition, keys: AbstractSet[dg.AssetKey]
) -> list[dg.AssetKey]:
    """`keys` with each one after the keys of `assets_def` it depends on (Dagster refuses a
    multi-asset that yields an output before one it depends on); ties by name."""
    sorter: TopologicalSorter[dg.AssetKey] = TopologicalSorter()
    for key in sorted(keys, key=lambda k: k.to_user_string()):
        sorter.add(key, *sorted(assets_def.asset_deps.get(key, set()) & keys, key=str))
    return list(sorter.static_order())


def unchanged_build_events(
    context: AssetExecutionContext, last: dbt_skip.UnchangedBuild
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """What the dbt asset yields instead of a build: a materialization of each selected asset
    (a multi-asset step that leaves one out skips everything downstream of it) saying why, and
    the last build's result of each dbt test Dagster expects in this step, as dagster-dbt maps
    them (passed on `pass`, WARN severity on `warn`): the gates read the failed ones, and a
    failed blocking test fails the step as it did in that build."""
    reason = (
        f"nothing dbt reads changed since the build of run {last.run_id} "
        f"({last.started_at:%Y-%m-%d %H:%M:%S %Z})"
    )
    meta = {"dbt_skipped": reason, "dbt_build_run_id": last.run_id}
    for key in in_dependency_order(context.assets_def, context.selected_asset_keys):
        yield dg.MaterializeResult(asset_key=key, metadata={**meta, "status": "skipped"})
    manifest, translator, project = get_manifest_and_translator_from_dbt_assets(
        [context.assets_def]
    )
    expected = set(context.selected_asset_check_keys) | set(
        get_checks_on_sources_upstream_of_selected_assets(
            assets_def=context.assets_def, selected_asset_keys=context.selected_asset_keys
        )
    )
    for unique_id, (status, failures) in sorted(last.test_results.items()):
        if unique_id not in manifest.get("nodes", {}):
            continue
        check = get_asset_check_key_for_test(manifest, translator, unique_id, project)
        if check is None or check not in expected:
            continue
        yield dg.AssetCheckResult(
            asset_key=check.asset_key,
            check_name=check.name,
            passed=status == "pass",
            severity=dg.AssetCheckSeverity.WARN
            if status == "warn"
            else dg.AssetCheckSeverity.ERROR,
            metadata={
                **meta,
                "status": str(status),
                **({} if failures is None else {"dagster_dbt/failed_row_count": failures}),
            },
        )


def regrant_after_build(context: AssetExecutionContext, dbt: DbtCliResource) -> None:
    """Grant the warehouse roles again after a build on PostgreSQL (dbt's recreated tables
    lost theirs), where an operator applied them with `q2c warehouse roles apply`."""
    url = getattr(dbt, "warehouse_url", None)
    if not url or not WarehouseUrl.parse(url).is_postgres:
        return
    with Warehouse.from_url(url) as wh:
        report = reapply_roles_if_present(wh, load_contract())
    if report is not None:
        context.log.info(
            f"warehouse roles granted again: analyst reads {len(report.analyst_columns)} marts "
            f"tables, finance {len(report.finance_ops_tables)} ops tables"
        )


def errored_build_nodes(run_results: Mapping[str, Any]) -> list[str]:
    """The models, seeds and snapshots dbt failed to build, from its `run_results.json`.

    A failing data test is not among them: it is a finding (warn) or a reason an output gate
    refuses (`orchestration/gates.py` reads it), never a reason to fail the step and skip the
    assets after it (the period report, the other flows)."""
    kinds = ("model.", "seed.", "snapshot.")
    return sorted(
        r["unique_id"]
        for r in run_results.get("results", [])
        if r.get("status") == "error" and str(r.get("unique_id", "")).startswith(kinds)
    )


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
    """The `dbt_models` job for the settings' warehouse (`Q2C_WAREHOUSE_URL`) when called (a
    `dg.reconstructable` target: run workers rebuild it in their own process)."""
    return dbt_definitions(load_settings().warehouse_url).resolve_job_def("dbt_models")
