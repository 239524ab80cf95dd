"""The one Dagster entry point: composes the per-source and per-stage modules.

- raw/billing/*, raw/salesforce/*, raw/erp/*: the extracts (`orchestration/assets/<source>.py`);
- the dbt project (staging -> marts -> reconciliation, exports, CRM payloads) as one
  `@dbt_assets` (`orchestration/assets/dbt.py`), downstream of the raw assets;
- jobs and schedules chosen by how soon a stale copy would hurt (`orchestration/jobs.py`,
  `orchestration/schedules.py`, and the Salesforce/ERP ones beside their assets);
- resources for the environment that `orchestration.environment.current_environment()` decides.
"""

from __future__ import annotations

import dagster as dg

from orchestration.assets.billing import billing_assets
from orchestration.assets.compliance import compliance_assets
from orchestration.assets.dbt import build_dbt_resource, dbt_assets_list
from orchestration.assets.erp import erp_assets, erp_jobs, erp_schedules
from orchestration.assets.erp_export import (
    build_erp_export_resource,
    erp_export_assets,
    erp_export_jobs,
    erp_export_schedules,
)
from orchestration.assets.reports import report_assets
from orchestration.assets.salesforce import (
    salesforce_assets,
    salesforce_jobs,
    salesforce_schedules,
)
from orchestration.assets.writeback import writeback_definitions
from orchestration.environment import Environment, current_environment
from orchestration.gates import gate_checks
from orchestration.jobs import billing_jobs
from orchestration.log_masking import install as install_log_masking
from orchestration.resources import build_resources
from orchestration.schedules import billing_schedules


def build_definitions(environment: Environment) -> dg.Definitions:
    """Every asset, job, schedule and resource of q2c, wired for `environment`."""
    return dg.Definitions(
        assets=[
            *billing_assets,
            *salesforce_assets,
            *erp_assets,
            *dbt_assets_list,
            *report_assets,
            *compliance_assets,  # holds after billing accounts land (eager)
            *writeback_definitions,  # CRM write-back after the sync models (eager), DLQ checks
            *gate_checks,  # blocking output gates on the outgoing dbt models
            *erp_export_assets,  # daily partitions on its own schedule, never eager
        ],
        jobs=[*billing_jobs, *salesforce_jobs, *erp_jobs, *erp_export_jobs],
        schedules=[
            *billing_schedules,
            *salesforce_schedules,
            *erp_schedules,
            *erp_export_schedules,
        ],
        resources={
            **build_resources(environment),
            "dbt": build_dbt_resource(environment.warehouse_url),
            "erp_export": build_erp_export_resource(environment.settings),
        },
    )


install_log_masking()  # every log record of the code location, Dagster's included, is masked
defs = build_definitions(current_environment())
