"""Billing assets through Dagster against the billing stand-in: runs, metadata, backfill, CLI."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import typer
from typer.testing import CliRunner

from extractors.billing.objects import OBJECTS
from orchestration.assets.billing import billing_assets, billing_lags
from orchestration.backfills import billing_backfill_job
from orchestration.commands import run as run_command
from orchestration.commands.run import run_assets
from orchestration.jobs import source_jobs
from orchestration.resources import BillingApiResource, WarehouseResource
from q2c.warehouse import Warehouse

pytestmark = pytest.mark.e2e


def _defs(env: dict[str, str], wh_url: str) -> dg.Definitions:
    jobs, schedules = source_jobs("billing", billing_assets, billing_lags)
    return dg.Definitions(
        assets=billing_assets,
        jobs=[*jobs, billing_backfill_job],
        schedules=schedules,
        resources={
            "billing": BillingApiResource(
                api_base=env["Q2C_BILLING_API_BASE"],
                api_key=env["Q2C_BILLING_API_KEY"],
                sdk_max_network_retries=0,
                retry_wait_initial=0.01,
                retry_wait_max=0.05,
            ),
            "warehouse": WarehouseResource(url=wh_url),
        },
    )


@pytest.fixture(scope="module")
def billing_env(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    from sandbox.services import start_services

    sandbox = start_services(
        world_s, None, tmp_path_factory.mktemp("e2e_state"), services=("billing",)
    )
    try:
        yield dict(sandbox.env)
    finally:
        sandbox.stop()


@pytest.fixture(scope="module")
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


def _raw_rows(wh_url: str) -> dict[str, int]:
    with Warehouse.from_url(wh_url) as wh:
        tables = [
            r[0]
            for r in wh.fetchall(
                "select table_name from information_schema.tables where table_schema = 'raw'"
            )
        ]
        return {t: wh.fetchone(f"select count(*) from raw.{t}")[0] for t in tables}


def test_run_assets_materializes_every_billing_asset_with_counts_that_match_the_tables(
    billing_env: dict, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    wh_url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    defs = _defs(billing_env, wh_url)
    progress: list[tuple[int, int]] = []
    summary = run_assets(defs, instance, on_progress=lambda d, t, _: progress.append((d, t)))
    assert summary.success, summary.failed_steps
    assert summary.selected == len(OBJECTS) and len(summary.assets) == len(OBJECTS)
    rows = _raw_rows(wh_url)
    by_asset = {a.asset: a.rows_landed for a in summary.assets}
    assert by_asset == {
        a: rows.get("billing__" + a.removeprefix("raw/billing/"), 0) for a in by_asset
    }
    assert summary.rows_landed == sum(rows.values()) > 0
    assert progress[-1] == (len(OBJECTS), len(OBJECTS))
    record = instance.get_run_record_by_id(summary.run_id)
    assert record is not None and record.dagster_run.status == dg.DagsterRunStatus.SUCCESS

    again = run_assets(defs, instance, select=["raw/billing/invoice", "raw/billing/line_item"])
    assert again.success and again.rows_landed == 0
    assert sum(a.duplicates or 0 for a in again.assets) > 0


def test_materialization_metadata_reports_cursor_calls_and_duration(
    billing_env: dict, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    defs = _defs(billing_env, f"duckdb:///{tmp_path / 'wh.duckdb'}")
    summary = run_assets(defs, instance, select=["raw/billing/customer"])
    assert summary.success
    event = instance.get_latest_materialization_event(dg.AssetKey(["raw", "billing", "customer"]))
    meta = event.asset_materialization.metadata
    assert meta["cursor_before"].value == ""
    assert int(meta["cursor_after"].value) > 1_600_000_000
    assert meta["api_requests"].value >= 1
    assert meta["duration_s"].value > 0
    assert meta["rows_landed"].value == summary.rows_landed > 0


def test_the_backfill_partition_lands_exactly_the_objects_created_in_its_month(
    world_s: Path, billing_env: dict, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    con = sqlite3.connect(world_s / "billing.sqlite")
    (now,) = con.execute("select value from meta where key = 'now'").fetchone()
    month = datetime.fromtimestamp(int(now) - 90 * 86_400, tz=UTC).replace(day=1)
    start = int(month.timestamp())
    end = int(
        month.replace(month=month.month % 12 + 1, year=month.year + month.month // 12).timestamp()
    )
    expected = dict(
        con.execute(
            "select object, count(*) from objects where deleted = 0"
            " and created >= ? and created < ?"
            " and object in ('customer', 'invoice', 'charge', 'payout') group by 1",
            [start, end],
        ).fetchall()
    )
    con.close()
    wh_url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    defs = _defs(billing_env, wh_url)
    job = defs.resolve_job_def(billing_backfill_job.name)
    result = job.execute_in_process(instance=instance, partition_key=month.strftime("%Y-%m-%d"))
    assert result.success
    rows = _raw_rows(wh_url)
    assert {o: rows.get(f"billing__{o}", 0) for o in expected} == expected
    with Warehouse.from_url(wh_url) as wh:
        assert wh.fetchone("select count(*) from ops.cursors where source = 'billing'")[0] == 0


def test_the_q2c_run_command_prints_a_json_summary(
    billing_env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import orchestration.definitions

    wh_url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    monkeypatch.setattr(orchestration.definitions, "defs", _defs(billing_env, wh_url))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    app = typer.Typer()
    app.command()(run_command.run)
    out = CliRunner().invoke(app, ["--json", "--select", "raw/billing/customer"])
    assert out.exit_code == 0, out.output
    summary: dict[str, Any] = json.loads(out.stdout)
    assert summary["success"] is True
    assert [a["asset"] for a in summary["assets"]] == ["raw/billing/customer"]
    assert summary["rows_landed"] == _raw_rows(wh_url)["billing__customer"] > 0
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster")) as inst:
        assert inst.get_run_record_by_id(summary["run_id"]) is not None


def test_a_refused_key_fails_the_asset_at_once_with_what_to_do_and_no_retries(
    billing_env: dict, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    defs = _defs(
        {**billing_env, "Q2C_BILLING_API_KEY": "rk_revoked"}, f"duckdb:///{tmp_path / 'wh.duckdb'}"
    )
    summary = run_assets(defs, instance, select=["raw/billing/coupon"])
    assert not summary.success and summary.assets == []
    (failure,) = summary.failed_steps
    assert "What to do: check Q2C_BILLING_API_KEY" in failure["error"]
    retries = instance.get_records_for_run(
        summary.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY
    ).records
    assert retries == []


def test_the_q2c_run_command_shows_progress_and_a_summary_table(
    billing_env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import orchestration.definitions

    wh_url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    monkeypatch.setattr(orchestration.definitions, "defs", _defs(billing_env, wh_url))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.setenv("COLUMNS", "160")
    app = typer.Typer()
    app.command()(run_command.run)
    out = CliRunner().invoke(
        app, ["--select", "raw/billing/product", "--select", "raw/billing/price"]
    )
    assert out.exit_code == 0, out.output
    assert "raw/billing/price" in out.stdout and "rows landed" in out.stdout
    assert "succeeded: 2/2 assets materialized" in out.stdout
