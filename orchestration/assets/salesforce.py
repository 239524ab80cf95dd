"""Salesforce (CRM) raw landing as Dagster assets, plus the monthly Bulk API 2.0 backfill job.

Contract:
- `salesforce_assets`: one asset per configured object, key `raw/salesforce/<object>`
  (lowercase, the dbt source names), group `raw_salesforce`. Each materialization runs the
  incremental extract (`extractors.salesforce.SalesforceExtractor.extract`) and reports rows
  landed, duplicates, quarantined, deletions seen, cursor before/after, API requests and the
  org's API usage (from `Sforce-Limit-Info`), and duration. Only counts and cursors: no PII.
- Freshness: each asset's `FreshnessPolicy` fails past the contract's `sync.incident_after`
  for the entity the object is the System of Record of (`contract_incident_after`).
- `salesforce_jobs`: `salesforce_extract_job` (the group, every 15 minutes through
  `salesforce_schedules`, skipped while a run is in flight) and `salesforce_backfill_job`,
  partitioned by month of `SystemModstamp`
  (`SALESFORCE_BACKFILL_START` onwards): each partition re-reads that month of every object with
  Bulk API 2.0 `queryAll` and lands what the warehouse lacks. Partitions are independent runs, so
  a failed or stopped backfill resumes partition by partition; the incremental cursor is left
  alone.
- Resources: `salesforce` (`SalesforceResource`) and `warehouse` (the shared
  `orchestration.resources.WarehouseResource`); `build_salesforce_resource(settings)` maps the
  settings (secrets through `dg.EnvVar`).
- Assets run in the `warehouse` pool (DuckDB takes one writer) with a `RetryPolicy`
  (exponential backoff with jitter) for transient failures that outlast the extractor's own
  retries; systematic ones (auth, API budget, schema) fail at once (`no_retry`) with the hint.
- (No `from __future__ import annotations`: Dagster inspects the `context` annotations.)
"""

from datetime import timedelta
from typing import Any

import dagster as dg
from pydantic import Field

from extractors.errors import SystematicError
from extractors.salesforce import (
    ExtractResult,
    SalesforceClient,
    SalesforceCredentials,
    SalesforceExtractor,
    configured_objects,
)
from extractors.salesforce.client import DEFAULT_API_VERSION
from extractors.salesforce.extract import DEFAULT_BULK_THRESHOLD, table_name
from orchestration.freshness import (
    DEFAULT_INCIDENT_AFTER,
    contract_incident_after,
    freshness_policy,
)
from orchestration.policies import RETRY, WAREHOUSE_POOL, no_retry
from orchestration.resources import WarehouseResource
from q2c.settings import Settings, load_settings
from q2c.warehouse import Warehouse

GROUP = "raw_salesforce"
SALESFORCE_BACKFILL_START = "2024-01-01"

DESCRIPTIONS: dict[str, str] = {
    "Account": (
        "Customer companies as the CRM knows them: owner, segment, billing status, MRR/ARR and "
        "the billing customer each is linked to. Every version Salesforce shows is kept; "
        "deleted accounts arrive as tombstones."
    ),
    "Contact": "People at customer companies (billing and support contacts) from the CRM.",
    "Opportunity": (
        "Deals in the CRM: stage, amount, currency and close date; a Closed Won deal names the "
        "billing subscription it became."
    ),
    "Case": "Support cases, including dunning and billing-priority cases, from the CRM.",
    "User": "CRM users (sales reps, support agents, the integration user) who own records.",
}


class SalesforceResource(dg.ConfigurableResource):
    """How to reach Salesforce and how hard to pull. Secrets come through `dg.EnvVar`."""

    login_url: str = "https://login.salesforce.com"
    client_id: str | None = None
    client_secret: str | None = None
    username: str | None = None
    password: str | None = None
    ca_bundle: str | None = None
    api_version: str = DEFAULT_API_VERSION
    api_reserve: float = Field(
        default=0.10, description="Share of the org's daily API allocation left untouched."
    )
    bulk_threshold: int = Field(
        default=DEFAULT_BULK_THRESHOLD,
        description="Above this many rows an incremental pull switches to Bulk API 2.0.",
    )
    overlap_minutes: float = Field(
        default=5.0, description="How far before the cursor the incremental re-reads."
    )
    retry_base_wait: float = 0.5
    retry_max_wait: float = 30.0
    retry_attempts: int = 8

    def credentials(self) -> SalesforceCredentials:
        """The extractor's credentials."""
        return SalesforceCredentials(
            login_url=self.login_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            username=self.username,
            password=self.password,
            ca_bundle=self.ca_bundle,
            api_version=self.api_version,
        )

    def client(self) -> SalesforceClient:
        """A fresh connection (log in happens on the first request)."""
        from extractors.salesforce import RetrySettings

        return SalesforceClient(
            self.credentials(),
            api_reserve=self.api_reserve,
            retry=RetrySettings(
                attempts=self.retry_attempts,
                base_wait=self.retry_base_wait,
                max_wait=self.retry_max_wait,
            ),
        )


#: The shared `warehouse` resource (orchestration/resources.py); the old name stays an alias.
LandingWarehouseResource = WarehouseResource


def _secret(value: str | None, name: str) -> Any:
    # a configured secret is resolved at run time from the environment, never stored in config;
    # an unset optional one stays None (client credentials need no username)
    return dg.EnvVar(name) if value else None


def build_salesforce_resource(settings: Settings | None = None) -> SalesforceResource:
    """The `salesforce` resource from the settings (ARCHITECTURE.md's configuration table).

    Args:
        settings: the process settings (default: `q2c.settings.load_settings()`).
    """
    settings = settings or load_settings()
    return SalesforceResource(
        login_url=settings.salesforce_login_url,
        client_id=_secret(settings.salesforce_client_id, "Q2C_SALESFORCE_CLIENT_ID"),
        client_secret=_secret(settings.salesforce_client_secret, "Q2C_SALESFORCE_CLIENT_SECRET"),
        username=_secret(settings.salesforce_username, "Q2C_SALESFORCE_USERNAME"),
        password=_secret(settings.salesforce_password, "Q2C_SALESFORCE_PASSWORD"),
        ca_bundle=settings.salesforce_ca_bundle,
    )


def result_metadata(result: ExtractResult) -> dict[str, Any]:
    """Materialization metadata of one extract: counts, cursors, API use, duration (no PII)."""
    meta: dict[str, Any] = {
        "mode": result.mode,
        "rows_read": dg.MetadataValue.int(result.rows_read),
        "rows_landed": dg.MetadataValue.int(result.landed),
        "duplicates": dg.MetadataValue.int(result.duplicates),
        "quarantined": dg.MetadataValue.int(result.quarantined),
        "deleted_seen": dg.MetadataValue.int(result.deleted),
        "pages": dg.MetadataValue.int(result.pages),
        "cursor_before": result.cursor_before or "",
        "cursor_after": result.cursor_after or "",
        "cursor_held_at_quarantine": result.cursor_held,
        "api_requests": dg.MetadataValue.int(result.api_requests),
        "retries": dg.MetadataValue.int(result.retries),
        "relogins": dg.MetadataValue.int(result.relogins),
        "late_versions_found": dg.MetadataValue.int(result.late_found),
        "duration_s": dg.MetadataValue.float(result.duration_s),
    }
    if result.api_calls_used is not None:
        meta["api_calls_used"] = dg.MetadataValue.int(result.api_calls_used)
    if result.api_usage:
        meta["api_usage"] = result.api_usage
    if result.window:
        meta["window"] = result.window
    if result.quarantine_reasons:
        meta["quarantine_reasons"] = "; ".join(sorted(set(result.quarantine_reasons))[:10])
    return meta


def _extractor(
    salesforce: SalesforceResource, wh: Warehouse, client: SalesforceClient, run_id: str
) -> SalesforceExtractor:
    return SalesforceExtractor(
        client,
        wh,
        run_id=run_id,
        overlap=timedelta(minutes=salesforce.overlap_minutes),
        bulk_threshold=salesforce.bulk_threshold,
    )


def build_salesforce_asset(
    sobject: str, incident_after: timedelta = DEFAULT_INCIDENT_AFTER
) -> dg.AssetsDefinition:
    """The raw landing asset of one Salesforce object.

    Args:
        sobject: the object's API name.
        incident_after: the contract's lag after which a stale copy is an incident (the
            asset's freshness policy fails past it).
    """

    @dg.asset(
        key=["raw", "salesforce", table_name(sobject)],
        group_name=GROUP,
        description=DESCRIPTIONS.get(sobject, f"Salesforce {sobject} records as landed.")
        + f" Table raw.salesforce__{table_name(sobject)}; incremental on SystemModstamp.",
        retry_policy=RETRY,
        pool=WAREHOUSE_POOL,
        freshness_policy=freshness_policy(incident_after),
        kinds={"salesforce", "python"},
        tags={"source": "salesforce"},
    )
    def _asset(
        context: dg.AssetExecutionContext,
        salesforce: SalesforceResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        client = salesforce.client()
        try:
            with warehouse.open() as wh:
                result = _extractor(salesforce, wh, client, context.run.run_id).extract(sobject)
        except SystematicError as exc:
            raise no_retry(exc) from exc
        finally:
            client.close()
        context.log.info(
            f"{sobject}: landed {result.landed}, duplicates {result.duplicates}, "
            f"quarantined {result.quarantined} ({result.mode})"
        )
        return dg.MaterializeResult(metadata=result_metadata(result))

    return _asset


SALESFORCE_OBJECTS = configured_objects()
_SF_LAGS = contract_incident_after("salesforce", [table_name(o) for o in SALESFORCE_OBJECTS])
salesforce_assets: list[dg.AssetsDefinition] = [
    build_salesforce_asset(o, _SF_LAGS[table_name(o)]) for o in SALESFORCE_OBJECTS
]

# -- backfill ------------------------------------------------------------------------------

monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=SALESFORCE_BACKFILL_START, end_offset=1
)


def build_backfill_op(sobject: str) -> dg.OpDefinition:
    """The op that re-reads one month of one object through Bulk API 2.0."""

    @dg.op(
        name=f"backfill_salesforce_{table_name(sobject)}",
        retry_policy=RETRY,
        pool=WAREHOUSE_POOL,
        tags={"source": "salesforce"},
        description=f"Bulk API 2.0 re-read of one month of Salesforce {sobject}.",
    )
    def _op(
        context: dg.OpExecutionContext,
        salesforce: SalesforceResource,
        warehouse: WarehouseResource,
    ) -> dg.Output[int]:
        window = context.partition_time_window
        client = salesforce.client()
        try:
            with warehouse.open() as wh:
                result = _extractor(salesforce, wh, client, context.run.run_id).backfill(
                    sobject, window.start, window.end
                )
        except SystematicError as exc:
            raise no_retry(exc) from exc
        finally:
            client.close()
        context.log.info(
            f"{sobject} {context.partition_key}: read {result.rows_read}, landed {result.landed}"
        )
        return dg.Output(result.landed, metadata=result_metadata(result))

    return _op


@dg.job(
    name="salesforce_backfill_job",
    partitions_def=monthly_partitions,
    description=(
        "Re-read one month (by SystemModstamp) of every Salesforce object with Bulk API 2.0 "
        "queryAll and land what the warehouse lacks. Run a range of partitions to backfill; "
        "each month is its own run, so a stopped backfill resumes where it stopped."
    ),
    tags={"source": "salesforce"},
)
def salesforce_backfill_job() -> None:
    for sobject in SALESFORCE_OBJECTS:
        build_backfill_op(sobject)()


# -- incremental job and schedule ------------------------------------------------------------

IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def schedule_skipping_in_flight(
    name: str, job: Any, cron: str, description: str
) -> dg.ScheduleDefinition:
    """A schedule that requests a run of `job` unless one is already queued or running."""

    @dg.schedule(
        name=name,
        job=job,
        cron_schedule=cron,
        execution_timezone="UTC",
        description=description,
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> Any:
        runs = context.instance.get_runs(
            filters=dg.RunsFilter(job_name=job.name, statuses=IN_FLIGHT), limit=1
        )
        if runs:
            return dg.SkipReason(f"{job.name} run {runs[0].run_id} is still in flight")
        return dg.RunRequest()

    return _schedule


salesforce_extract_job = dg.define_asset_job(
    "salesforce_extract_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="Land every configured Salesforce object (incremental) into raw.salesforce__*.",
)

salesforce_every_15_minutes_schedule = schedule_skipping_in_flight(
    "salesforce_every_15_minutes",
    salesforce_extract_job,
    "*/15 * * * *",
    "CRM changes every 15 minutes (the contract's expected lag for accounts); skipped while a "
    "run is in flight.",
)

salesforce_jobs: list[Any] = [salesforce_extract_job, salesforce_backfill_job]
salesforce_schedules: list[dg.ScheduleDefinition] = [salesforce_every_15_minutes_schedule]
