"""The one Dagster entry point: composes the per-source and per-stage modules.

- raw/billing/*, raw/salesforce/*, raw/erp/*: the extracts (`orchestration/assets/<source>.py`),
  each source's jobs and schedules derived from the contract's lags by one function
  (`orchestration.jobs.source_jobs`), plus the billing weekly full re-list and the backfills
  (`orchestration/backfills.py`);
- the dbt project (staging -> marts -> reconciliation, exports, CRM payloads) as one
  `@dbt_assets` (`orchestration/assets/dbt.py`), downstream of the raw assets; it and every
  other asset no schedule selects run on declarative automation (`automate_unscheduled`);
- resources for the environment that `orchestration.environment.current_environment()` decides.

New assets go in their own module under `orchestration/assets/` and into the `assets=[...]`
list below (one line); they get an automation condition unless they bring their own.
"""

from __future__ import annotations

import dagster as dg

from orchestration.assets.billing import billing_assets, billing_lags
from orchestration.assets.compliance import compliance_assets
from orchestration.assets.dbt import build_dbt_resource, dbt_assets_list
from orchestration.assets.erp import erp_assets, erp_lags
from orchestration.assets.erp_export import (
    build_erp_export_resource,
    erp_export_assets,
    erp_export_jobs,
    erp_export_schedules,
)
from orchestration.assets.reports import report_assets
from orchestration.assets.salesforce import salesforce_assets, salesforce_lags
from orchestration.assets.webhooks import (
    webhook_assets,
    webhook_reconcile_jobs,
    webhook_reconcile_schedules,
)
from orchestration.assets.writeback import writeback_definitions
from orchestration.backfills import backfill_jobs
from orchestration.environment import Environment, current_environment
from orchestration.gates import gate_checks
from orchestration.jobs import (
    automate_unscheduled,
    automation_sensor,
    dbt_build_job,
    full_relist,
    source_jobs,
    stage_jobs,
)
from orchestration.log_masking import install as install_log_masking
from orchestration.resources import build_resources
from orchestration.sensors import webhook_jobs, webhook_sensors

#: Every source's raw assets and the contract's lag of each asset key, wired the same way.
SOURCES = {
    "billing": (billing_assets, billing_lags),
    "salesforce": (salesforce_assets, salesforce_lags),
    "erp": (erp_assets, erp_lags),
}


def build_definitions(environment: Environment) -> dg.Definitions:
    """Every asset, job, schedule, sensor and resource of q2c, wired for `environment`."""
    jobs: list = [*backfill_jobs, dbt_build_job(dbt_assets_list), *erp_export_jobs]
    jobs += [*webhook_jobs, *webhook_reconcile_jobs]
    jobs += stage_jobs(
        {
            "reports": report_assets,
            "compliance": compliance_assets,
            "writeback": writeback_definitions,
        }
    )
    schedules: list = [*erp_export_schedules, *webhook_reconcile_schedules]
    for source, (assets, lags) in SOURCES.items():
        source_job_list, source_schedules = source_jobs(source, assets, lags)
        jobs += source_job_list
        schedules += source_schedules
    relist_job, relist_schedule = full_relist(billing_assets)
    jobs.append(relist_job)
    schedules.append(relist_schedule)
    scheduled = {k for assets, _ in SOURCES.values() for a in assets for k in a.keys}
    return dg.Definitions(
        assets=[
            *automate_unscheduled(
                [*billing_assets, *salesforce_assets, *erp_assets, *dbt_assets_list],
                scheduled,
            ),
            *erp_export_assets,  # daily partitions on its own schedule, never eager
            *webhook_assets,  # the webhook inbox's nightly reconcile (its own schedule)
            *report_assets,  # after each reconciliation (eager)
            *compliance_assets,  # holds after billing accounts land (eager)
            *writeback_definitions,  # CRM write-back after the sync models (eager), DLQ checks
            *gate_checks,  # blocking output gates on the outgoing dbt models
        ],
        jobs=jobs,
        schedules=schedules,
        sensors=[automation_sensor, *webhook_sensors],
        resources={
            **build_resources(environment),
            "dbt": build_dbt_resource(environment.warehouse_url),
            "erp_export": build_erp_export_resource(environment.settings),
        },
    )


install_log_masking()  # every log record of the code location, Dagster's included, is masked
defs = build_definitions(current_environment())
