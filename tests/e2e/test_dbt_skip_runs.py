"""A `q2c run` with nothing new for dbt leaves the dbt build out, and any change builds.

Starts from the session's shared pair of S runs (`s_pipeline_runs`: the world, warehouse,
Q2C_HOME as the second run left them), against fresh stand-ins over a copy of that world, with
the skip key reading a copy of the dbt project (edits of a shared checkout during the test
would otherwise rebuild, rightly), after one dbt-only run that records that copy's key:
- the whole pipeline again with no change: dbt is left out (`dbt_skipped`, no new record in
  `ops.dbt_builds`), every asset it skipped is still materialized, the output gates still
  evaluate, and every table the project builds is row for row what it was;
- after a row is added to an ops table the project reads (`ops.export_ledger`), after a change
  to a model outside staging (the skip key's project files, in a copy), and after
  `sandbox advance` (new raw rows), the dbt layer builds again.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from orchestration.assets.dbt import q2c_dbt_models, q2c_dbt_project
from orchestration.commands.run import RunSummary, run_assets
from orchestration.gates import GATE_CHECK_SUFFIX
from q2c import dbt_skip
from tests.support.pipeline import (
    DBT_VARIABLES,
    _copy_duckdb,
    pipeline_against,
    private_copy,
)

pytestmark = pytest.mark.e2e

DBT_KEYS = sorted("/".join(k.path) for k in q2c_dbt_models.keys)


def _builds(warehouse: Path) -> int:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute("select count(*) from ops.dbt_builds").fetchone()[0]
    finally:
        con.close()


def _differing_tables(before: Path, after: Path) -> list[str]:
    """Relations the project builds whose rows differ between two warehouse files."""
    import json

    manifest = json.loads(q2c_dbt_project().manifest_path.read_text())
    con = duckdb.connect(str(after), read_only=True)
    try:
        con.execute(f"attach '{before}' as before_run (read_only)")
        differing = []
        for schema, table in dbt_skip.built_relations(manifest):
            a, b = f'"{schema}"."{table}"', f'before_run."{schema}"."{table}"'
            extra = con.execute(
                f"select (select count(*) from (select * from {a} except all select * from {b}))"
                f" + (select count(*) from (select * from {b} except all select * from {a}))"
            ).fetchone()[0]
            if extra:
                differing.append(f"{schema}.{table}")
        return differing
    finally:
        con.close()


def _run(p: Any, select: list[str] | None = None) -> RunSummary:
    summary = run_assets(p.defs, p.instance, select=select)
    assert summary.success, summary.failed_steps
    return summary


def test_nothing_new_leaves_dbt_out_and_any_change_builds(
    s_pipeline_runs: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sandbox import world as sandbox_world

    shared = private_copy(s_pipeline_runs, tmp_path / "shared")
    root = tmp_path / "run"
    root.mkdir()
    shutil.copytree(shared["world"], root / "world")
    home = Path(shared["world"]).parent / "home"
    if home.exists():  # the extractors' state, as the second run left it
        shutil.copytree(home, root / "home")
    shutil.copy(shared["warehouse"], root / "warehouse.duckdb")
    for key in DBT_VARIABLES:
        monkeypatch.setenv(key, "")
    # the skip key reads a copy of the project taken now: an edit of the working tree while
    # the test runs (a shared checkout) must not decide a case; case 4 edits the copy
    project = tmp_path / "dbt_project"
    shutil.copytree(
        q2c_dbt_project().project_dir, project, ignore=shutil.ignore_patterns("target", "logs")
    )
    monkeypatch.setattr("orchestration.assets.dbt.DBT_PROJECT_DIR", project)

    with pipeline_against(root / "world", root) as p:
        # 0. the dbt layer with the key of the copy (it builds only if the project changed
        # since the shared runs), and the warehouse as it left it
        _run(p, select=DBT_KEYS)
        builds = _builds(p.warehouse)
        before = _copy_duckdb(p.warehouse, tmp_path / "before.duckdb")

        # 1. nothing new: the whole pipeline runs, dbt is left out
        same = _run(p)
        assert same.dbt_skipped and "nothing dbt reads changed" in same.dbt_skipped
        assert _builds(p.warehouse) == builds
        done = {a.asset for a in same.assets}
        assert set(DBT_KEYS) <= done
        assert same.not_materialized == [], same.not_materialized  # the gates pass at S
        gates = [
            e
            for e in p.instance.all_logs(
                same.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            )
            if e.dagster_event.event_specific_data.check_name.endswith(GATE_CHECK_SUFFIX)
        ]
        assert gates, "the output gates did not evaluate after the skipped build"
        assert _differing_tables(before, p.warehouse) == []

        # 2. an ops table the project reads changed: the dbt layer builds
        con = duckdb.connect(str(p.warehouse))
        try:
            con.execute(
                "insert into ops.export_ledger (idempotency_key, external_id, batch_id,"
                " content_hash, status, error_code, error_detail, recorded_at, run_id)"
                " values ('k-skip-test', 'q2c-je-skip-test', 'b1', 'h', 'rejected', 'E',"
                " 'refused', ?, 'test')",
                [datetime.now(UTC)],
            )
        finally:
            con.close()
        ledger = _run(p, select=DBT_KEYS)
        assert ledger.dbt_skipped is None
        assert _builds(p.warehouse) == builds + 1
        assert _run(p, select=DBT_KEYS).dbt_skipped  # nothing new since that build
        assert _builds(p.warehouse) == builds + 1

        # 3. a day of new activity lands new raw rows: the dbt layer builds
        sandbox_world.advance(root / "world", 1)
        day = _run(p, select=["raw", *DBT_KEYS])
        assert day.rows_landed > 0
        assert day.dbt_skipped is None
        assert _builds(p.warehouse) == builds + 2

        # 4. a model outside staging changed (staging and the macros are the same, so this is
        # no full refresh)
        model = project / "models" / "marts" / "fct_invoices.sql"
        model.write_text(model.read_text() + "\n-- changed\n")
        changed = _run(p, select=DBT_KEYS)
        assert changed.dbt_skipped is None
        assert _builds(p.warehouse) == builds + 3
