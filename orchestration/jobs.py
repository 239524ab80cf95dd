"""Jobs and schedules of the whole pipeline, built one way for every source from the contract.

Contract:
- Every raw asset is scheduled from the ownership contract: the `Lag` of its object
  (`orchestration/freshness.py`: `expected_lag`, `incident_after`) picks its `Cadence`, the
  longest of `CADENCES` no longer than the expected lag (`cadence_for`). A multi-asset takes its
  strictest object. A raw asset is then at most `cadence.interval + RUN_BUDGET` old, which
  `test_schedules_from_contract` checks against each freshness policy's `incident_after`.
- `source_jobs(source, assets, lags)` groups one source's assets by cadence into one job each,
  `<source>_<cadence>_job`, and gives each a schedule `<source>_<cadence>_schedule`
  (`build_schedule`). Every source is wired by this one function.
- `build_schedule(job, cron, description)`: a schedule of `job` on `cron` (UTC) that skips
  while the same job is queued or running (`skip_if_running`), so a slow run is never stacked
  with the next tick and DuckDB's single writer is not fought over (the warehouse pool of the
  instance's `dagster.yaml` serializes the writing steps of different jobs).
- `billing_full_relist_job` (run tag `q2c/billing_mode=full`, Sundays 03:00 UTC) re-lists all
  of billing and tombstones what the API stopped listing: the completeness guarantee past the
  30-day event window.
- The dbt layer and everything downstream of it (gates, exports, reports, write-back) run on
  Dagster declarative automation: `automate_unscheduled(assets, scheduled_keys)` gives every
  asset no schedule selects `AutomationCondition.eager()` (it runs after its inputs land, once
  they are all there, never while an input is in progress), evaluated by `automation_sensor`.
  `dbt_build_job` builds the dbt layer by hand, and `stage_jobs` gives every other stage (the
  reports, compliance, the write-back and its automations) a job of its own, `<stage>_job`, to
  run it by hand: every asset is in a job, and has a schedule or an automation condition.
- Schedules and the automation sensor are created stopped (`DEFAULT_STATUS`); start them in the
  UI or with `dagster schedule start --start-all` / `dagster sensor start`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from functools import reduce

import dagster as dg

from orchestration.freshness import Cadence, Lag, cadence_for
from orchestration.policies import MODE_TAG, SOURCE_TAG

#: The schedules start stopped: an operator turns them on (the UI or `dagster schedule start`).
DEFAULT_STATUS = dg.DefaultScheduleStatus.STOPPED
#: How long a scheduled run may take, queued behind the warehouse pool included.
RUN_BUDGET = timedelta(minutes=15)

ACTIVE_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def skip_if_running(instance: dg.DagsterInstance, job_name: str) -> dg.SkipReason | None:
    """A `SkipReason` when `job_name` has a run queued or in progress on `instance`."""
    active = instance.get_run_records(
        filters=dg.RunsFilter(job_name=job_name, statuses=ACTIVE_STATUSES), limit=1
    )
    if active:
        run = active[0].dagster_run
        return dg.SkipReason(
            f"{job_name} is already {run.status.value.lower()} (run {run.run_id}); skipping"
        )
    return None


def build_schedule(
    job: dg.UnresolvedAssetJobDefinition | dg.JobDefinition, cron: str, description: str
) -> dg.ScheduleDefinition:
    """A schedule of `job` on `cron` (UTC) that skips while the job is queued or running."""

    @dg.schedule(
        name=f"{job.name.removesuffix('_job')}_schedule",
        cron_schedule=cron,
        job=job,
        execution_timezone="UTC",
        description=description,
        default_status=DEFAULT_STATUS,
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        skip = skip_if_running(context.instance, job.name)
        if skip is not None:
            return skip
        return dg.RunRequest()

    return _schedule


def asset_lag(asset: dg.AssetsDefinition, lags: Mapping[dg.AssetKey, Lag]) -> Lag:
    """The strictest lag of the objects one (multi-)asset lands."""
    return reduce(Lag.tightest, (lags[k] for k in asset.keys if k in lags), Lag())


def source_jobs(
    source: str, assets: Sequence[dg.AssetsDefinition], lags: Mapping[dg.AssetKey, Lag]
) -> tuple[list[dg.UnresolvedAssetJobDefinition], list[dg.ScheduleDefinition]]:
    """One job and schedule per cadence for one source's raw assets (see the module doc)."""
    by_cadence: dict[Cadence, list[dg.AssetKey]] = {}
    for asset in assets:
        if asset.can_subset:  # a subsettable multi-asset (billing's listings): each key by its lag
            for key in asset.keys:
                by_cadence.setdefault(cadence_for(lags.get(key, Lag())), []).append(key)
        else:
            by_cadence.setdefault(cadence_for(asset_lag(asset, lags)), []).extend(asset.keys)
    jobs, schedules = [], []
    for cadence, keys in sorted(by_cadence.items(), key=lambda item: item[0].interval):
        names = ", ".join(sorted(k.path[-1] for k in keys))
        job = dg.define_asset_job(
            f"{source}_{cadence.name}_job",
            selection=dg.AssetSelection.assets(*keys),
            description=f"Land {source} {names} (the contract's expected lag allows "
            f"{cadence.name.replace('_', ' ')}).",
            tags={SOURCE_TAG: source},
        )
        jobs.append(job)
        schedules.append(
            build_schedule(
                job,
                cadence.cron,
                f"{source} {cadence.name.replace('_', ' ')} ({cadence.cron} UTC): {names}; "
                "skipped while the job is queued or running.",
            )
        )
    return jobs, schedules


def full_relist(
    billing_assets: Sequence[dg.AssetsDefinition],
) -> tuple[dg.UnresolvedAssetJobDefinition, dg.ScheduleDefinition]:
    """The weekly full re-list of billing (deletions older than the event window)."""
    job = dg.define_asset_job(
        "billing_full_relist_job",
        selection=dg.AssetSelection.assets(*billing_assets),
        description=(
            "Re-list every billing object in full and land tombstones for objects the API no "
            "longer lists: catches deletions and changes older than the 30-day event window."
        ),
        tags={SOURCE_TAG: "billing", MODE_TAG: "full"},
    )
    return job, build_schedule(
        job,
        "0 3 * * 0",
        "Sundays at 03:00 UTC: full re-list of billing to catch what the event window missed.",
    )


def automate_unscheduled(
    assets: Iterable[dg.AssetsDefinition], scheduled: set[dg.AssetKey]
) -> list[dg.AssetsDefinition]:
    """`assets`, where every asset no schedule selects and that has no automation condition of
    its own gets `AutomationCondition.eager()` (it runs once its inputs have landed)."""

    def automate(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.key in scheduled or spec.automation_condition is not None:
            return spec
        return spec.replace_attributes(automation_condition=dg.AutomationCondition.eager())

    out = []
    for asset in assets:
        if not asset.is_materializable or all(k in scheduled for k in asset.keys):
            out.append(asset)
        else:
            out.append(asset.map_asset_specs(automate))
    return out


automation_sensor = dg.AutomationConditionSensorDefinition(
    "q2c_automation_sensor",
    target=dg.AssetSelection.all(),
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Runs the dbt layer after its raw inputs land, then the gates and the outputs "
        "(each asset's declarative automation condition)."
    ),
)


def dbt_build_job(dbt_assets: Sequence[dg.AssetsDefinition]) -> dg.UnresolvedAssetJobDefinition:
    """`dbt_build_job`: build and test the dbt layer by hand (automation runs it otherwise)."""
    return dg.define_asset_job(
        "dbt_build_job",
        selection=dg.AssetSelection.assets(*dbt_assets),
        description="dbt build of staging, marts, reconciliation, exports and CRM payloads.",
        tags={SOURCE_TAG: "dbt"},
    )


def stage_jobs(stages: Mapping[str, Sequence[object]]) -> list[dg.UnresolvedAssetJobDefinition]:
    """`<stage>_job` for each stage's assets (asset checks and other definitions are left out),
    for running a stage by hand; automation runs it otherwise."""
    return [
        dg.define_asset_job(
            f"{stage}_job",
            selection=dg.AssetSelection.assets(
                *(a for a in definitions if isinstance(a, dg.AssetsDefinition))
            ),
            description=f"The {stage} stage by hand (declarative automation runs it otherwise).",
            tags={SOURCE_TAG: stage},
        )
        for stage, definitions in stages.items()
    ]
