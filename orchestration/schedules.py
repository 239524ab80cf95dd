"""Schedules by consequence, each one skipping while the same job is queued or running.

Contract:
- `skip_if_running(job_name)`: a schedule body helper; returns a `dg.SkipReason` when the
  instance has a run of `job_name` queued, starting or started, else None. Every schedule here
  uses it, so a slow run is never stacked with the next tick (and DuckDB's single writer is not
  fought over).
- `build_schedule(job, cron, description)`: a schedule of `job` on `cron` (UTC) with that check;
  other sources can build theirs the same way.
- Billing: `billing_frequent_schedule` every 15 minutes, `billing_daily_schedule` at 02:00,
  `billing_full_relist_schedule` Sundays at 03:00.
- `billing_schedules`: the list `orchestration/definitions.py` adds.
"""

from __future__ import annotations

import dagster as dg

from orchestration.jobs import billing_daily_job, billing_frequent_job, billing_full_relist_job

ACTIVE_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def skip_if_running(instance: dg.DagsterInstance, job_name: str) -> dg.SkipReason | None:
    """A `SkipReason` when `job_name` has a run queued or in progress on `instance`.

    Args:
        instance: the Dagster instance the schedule evaluates on.
        job_name: the job the schedule would launch.
    """
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
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        skip = skip_if_running(context.instance, job.name)
        if skip is not None:
            return skip
        return dg.RunRequest()

    return _schedule


billing_frequent_schedule = build_schedule(
    billing_frequent_job,
    "*/15 * * * *",
    "Every 15 minutes: payments, subscription state, charges, refunds, disputes, change log.",
)
billing_daily_schedule = build_schedule(
    billing_daily_job, "0 2 * * *", "Daily at 02:00 UTC: the rest of billing."
)
billing_full_relist_schedule = build_schedule(
    billing_full_relist_job,
    "0 3 * * 0",
    "Sundays at 03:00 UTC: full re-list of billing to catch what the 30-day event window missed.",
)

billing_schedules = [
    billing_frequent_schedule,
    billing_daily_schedule,
    billing_full_relist_schedule,
]
schedules = [*billing_schedules]
