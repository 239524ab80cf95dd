"""ERP (NetSuite SuiteQL) raw landing as Dagster assets.

Contract:
- `erp_assets`: one asset per table of `extractors.erp.tables.TABLES`, key `raw/erp/<table>`
  (the dbt source names), group `raw_erp`. Each materialization runs `ErpExtractor.extract`
  and reports rows landed, duplicates, quarantined, cursor before/after, SuiteQL requests,
  retries and duration (counts and cursors only: no PII).
- Resources: `erp` (`ErpResource`, token through `dg.EnvVar`; `build_erp_resource()` maps the
  settings) and `warehouse` (the shared `orchestration.resources.WarehouseResource`).
- `RetryPolicy` with exponential backoff and jitter; the `warehouse` pool (one DuckDB writer).
- Freshness: each asset's `FreshnessPolicy` fails past the contract's `incident_after` for the
  entity the table is the System of Record of (2 days where the contract names none).
- `erp_jobs` / `erp_schedules`: `erp_extract_job` (the whole group) and a daily schedule that
  skips while the job is already queued or running (ERP data is needed daily, not by the minute).
- (No `from __future__ import annotations`: Dagster inspects the `context` annotations.)
"""

from datetime import timedelta
from typing import Any

import dagster as dg
from pydantic import Field

from extractors.erp import ErpCredentials, ErpExtractor, ErpExtractResult, SuiteQLClient
from extractors.erp.tables import TABLES
from extractors.errors import SystematicError
from orchestration.assets.salesforce import schedule_skipping_in_flight
from orchestration.freshness import (
    DEFAULT_INCIDENT_AFTER,
    contract_incident_after,
    freshness_policy,
)
from orchestration.policies import RETRY, WAREHOUSE_POOL, no_retry
from orchestration.resources import WarehouseResource
from q2c.settings import Settings, load_settings

GROUP = "raw_erp"


class ErpResource(dg.ConfigurableResource):
    """How to reach the ERP's SuiteQL endpoint. The token comes through `dg.EnvVar`."""

    base_url: str
    token: str
    page_size: int = Field(default=1000, description="SuiteQL `limit` per request (max 1,000).")
    overlap_minutes: float = Field(
        default=24 * 60.0,
        description="How far before the cursor incremental reads start (late commits).",
    )
    retry_base_wait: float = 0.5
    retry_max_wait: float = 30.0
    retry_attempts: int = 8

    def client(self) -> SuiteQLClient:
        """A SuiteQL client (close it when done)."""
        return SuiteQLClient(
            ErpCredentials(base_url=self.base_url, token=self.token),
            page_size=self.page_size,
            attempts=self.retry_attempts,
            base_wait=self.retry_base_wait,
            max_wait=self.retry_max_wait,
        )


def build_erp_resource(settings: Settings | None = None) -> ErpResource:
    """The `erp` resource: `Q2C_ERP_BASE_URL` from the settings, the token via `dg.EnvVar`.

    Args:
        settings: the process settings (default: `q2c.settings.load_settings()`).
    """
    settings = settings or load_settings()
    return ErpResource(base_url=settings.erp_base_url or "", token=dg.EnvVar("Q2C_ERP_TOKEN"))


def erp_metadata(result: ErpExtractResult) -> dict[str, Any]:
    """Materialization metadata of one table's extract (no row values)."""
    meta: dict[str, Any] = {
        "mode": result.mode,
        "rows_read": dg.MetadataValue.int(result.rows_read),
        "rows_landed": dg.MetadataValue.int(result.landed),
        "duplicates": dg.MetadataValue.int(result.duplicates),
        "quarantined": dg.MetadataValue.int(result.quarantined),
        "pages": dg.MetadataValue.int(result.pages),
        "cursor_before": result.cursor_before or "",
        "cursor_after": result.cursor_after or "",
        "cursor_held_at_quarantine": result.cursor_held,
        "api_requests": dg.MetadataValue.int(result.api_requests),
        "retries": dg.MetadataValue.int(result.retries),
        "duration_s": dg.MetadataValue.float(result.duration_s),
    }
    if result.quarantine_reasons:
        meta["quarantine_reasons"] = "; ".join(sorted(set(result.quarantine_reasons))[:10])
    return meta


def build_erp_asset(
    table: str, incident_after: timedelta = DEFAULT_INCIDENT_AFTER
) -> dg.AssetsDefinition:
    """The raw landing asset of one ERP table (freshness fails past `incident_after`)."""
    spec = TABLES[table]
    how = f"incremental on {spec.modified}" if spec.incremental else "re-read in full every run"

    @dg.asset(
        key=["raw", "erp", table],
        group_name=GROUP,
        description=f"{spec.description} Table raw.erp__{table}; {how}.",
        retry_policy=RETRY,
        pool=WAREHOUSE_POOL,
        freshness_policy=freshness_policy(incident_after),
        kinds={"netsuite", "python"},
        tags={"source": "erp"},
    )
    def _asset(
        context: dg.AssetExecutionContext, erp: ErpResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        client = erp.client()
        try:
            with warehouse.open() as wh:
                extractor = ErpExtractor(
                    client,
                    wh,
                    run_id=context.run.run_id,
                    overlap=timedelta(minutes=erp.overlap_minutes),
                )
                result = extractor.extract(table)
        except SystematicError as exc:
            raise no_retry(exc) from exc
        finally:
            client.close()
        context.log.info(
            f"erp {table}: landed {result.landed}, duplicates {result.duplicates}, "
            f"quarantined {result.quarantined}"
        )
        return dg.MaterializeResult(metadata=erp_metadata(result))

    return _asset


_ERP_LAGS = contract_incident_after("erp", list(TABLES))
erp_assets: list[dg.AssetsDefinition] = [build_erp_asset(t, _ERP_LAGS[t]) for t in TABLES]

erp_extract_job = dg.define_asset_job(
    "erp_extract_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="Land every ERP table (SuiteQL) into raw.erp__*.",
)

erp_daily_schedule = schedule_skipping_in_flight(
    "erp_daily",
    erp_extract_job,
    "0 5 * * *",
    "ERP postings and master data once a day; skipped while a run is in flight.",
)

erp_jobs: list[Any] = [erp_extract_job]
erp_schedules: list[dg.ScheduleDefinition] = [erp_daily_schedule]
