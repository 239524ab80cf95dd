"""Billing wiring: environment decision, asset keys and groups, jobs, skipping schedules."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.utils import make_new_run_id

from extractors.billing.objects import OBJECTS
from orchestration.assets.billing import billing_assets, billing_lags
from orchestration.environment import current_environment
from orchestration.jobs import source_jobs
from orchestration.resources import BillingApiResource, WarehouseResource

pytestmark = pytest.mark.unit


def test_a_postgres_warehouse_url_means_prod_and_the_postgres_dbt_target() -> None:
    env = current_environment({"Q2C_WAREHOUSE_URL": "postgresql://q2c@db:5432/q2c"})
    assert (env.name, env.dbt_target, env.single_writer) == ("prod", "postgres", False)


def test_the_default_warehouse_is_a_local_duckdb_file_under_q2c_home(tmp_path) -> None:
    env = current_environment({"Q2C_HOME": str(tmp_path)})
    assert (env.name, env.dbt_target, env.single_writer) == ("local", "duckdb", True)
    assert env.warehouse_url == f"duckdb:///{tmp_path / 'warehouse.duckdb'}"


def test_an_unknown_warehouse_scheme_is_refused_with_the_accepted_forms() -> None:
    with pytest.raises(ValueError, match="duckdb:///<path> or postgresql://"):
        current_environment({"Q2C_WAREHOUSE_URL": "sqlite:///x.db"})


def _specs() -> dict[dg.AssetKey, dg.AssetSpec]:
    return {spec.key: spec for a in billing_assets for spec in a.specs}


def test_every_billing_object_has_an_asset_under_raw_billing_in_group_raw_billing() -> None:
    specs = _specs()
    assert set(specs) == {dg.AssetKey(["raw", "billing", name]) for name in OBJECTS}
    assert {s.group_name for s in specs.values()} == {"raw_billing"}
    assert all(len(s.description or "") > 40 for s in specs.values())


def test_every_billing_asset_retries_with_exponential_backoff() -> None:
    for a in billing_assets:
        for op_def in (
            a.node_def.iterate_op_defs() if hasattr(a.node_def, "iterate_op_defs") else [a.op]
        ):
            assert op_def.retry_policy is not None
            assert op_def.retry_policy.backoff == dg.Backoff.EXPONENTIAL


billing_jobs, billing_schedules = source_jobs("billing", billing_assets, billing_lags)
FREQUENT = "billing_every_5_minutes_job"


def test_the_cadence_jobs_split_the_billing_assets_without_overlap() -> None:
    selected = [
        set(job.selection.resolve(billing_assets))
        for job in billing_jobs  # type: ignore[union-attr]
    ]
    assert sum(len(keys) for keys in selected) == len(set().union(*selected)) == len(_specs())
    by_job = {job.name: keys for job, keys in zip(billing_jobs, selected, strict=True)}
    frequent = {k.path[-1] for k in by_job[FREQUENT]}
    # policy/ownership.yml: customers, subscriptions, payments... expected within 5m; the change
    # log carries every object's changes, so it runs with the strictest of them
    assert {"customer", "subscription", "payment_intent", "charge", "event"} <= frequent
    assert "product" not in frequent


def test_the_billing_jobs_and_schedules_load_in_one_definitions() -> None:
    resources = {
        "billing": BillingApiResource(api_base="http://127.0.0.1:9", api_key="sk_test_unit"),
        "warehouse": WarehouseResource(url="duckdb:///unused.duckdb"),
    }
    defs = dg.Definitions(
        assets=billing_assets, jobs=billing_jobs, schedules=billing_schedules, resources=resources
    )
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def(FREQUENT) is not None
    assert defs.resolve_schedule_def("billing_every_5_minutes_schedule").cron_schedule == (
        "*/5 * * * *"
    )


@pytest.fixture(scope="module")
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def add_run(instance: dg.DagsterInstance) -> Iterator[Callable[[str, dg.DagsterRunStatus], str]]:
    added: list[str] = []

    def add(job_name: str, status: dg.DagsterRunStatus) -> str:
        run_id = make_new_run_id()
        instance.add_run(DagsterRun(job_name=job_name, run_id=run_id, status=status))
        added.append(run_id)
        return run_id

    yield add
    for run_id in added:
        instance.delete_run(run_id)


def _tick(instance: dg.DagsterInstance) -> Any:
    context = dg.build_schedule_context(instance=instance)
    schedule = next(s for s in billing_schedules if s.job_name == FREQUENT)
    return schedule.evaluate_tick(context)


def test_the_schedule_requests_a_run_when_the_job_is_idle(instance: dg.DagsterInstance) -> None:
    tick = _tick(instance)
    assert len(tick.run_requests) == 1 and not tick.skip_message


@pytest.mark.parametrize(
    "status",
    [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED],
)
def test_the_schedule_skips_while_the_same_job_is_queued_or_running(
    instance: dg.DagsterInstance,
    add_run: Callable[[str, dg.DagsterRunStatus], str],
    status: dg.DagsterRunStatus,
) -> None:
    run_id = add_run(FREQUENT, status)
    tick = _tick(instance)
    assert not tick.run_requests
    assert f"{FREQUENT} is already" in tick.skip_message
    assert run_id in tick.skip_message


def test_a_finished_or_other_job_run_does_not_block_the_schedule(
    instance: dg.DagsterInstance, add_run: Callable[[str, dg.DagsterRunStatus], str]
) -> None:
    add_run(FREQUENT, dg.DagsterRunStatus.SUCCESS)
    add_run("billing_daily_job", dg.DagsterRunStatus.STARTED)
    assert len(_tick(instance).run_requests) == 1
