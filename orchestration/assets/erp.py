"""ERP (NetSuite SuiteQL) raw landing as Dagster assets.

Contract:
- `erp_assets`: one asset per table of `extractors.erp.tables.TABLES`, key `raw/erp/<table>`
  (the dbt source names), group `raw_erp`. Each materialization runs `ErpExtractor.extract`
  and reports rows landed, duplicates, quarantined, cursor before/after, SuiteQL requests,
  retries and duration (counts and cursors only: no PII).
- Resources: `erp` (`ErpResource`, token through `dg.EnvVar`) and `warehouse`
  (`WarehouseResource`), both in `orchestration/resources.py`.
- `RetryPolicy` with exponential backoff and jitter; the `warehouse` pool (one DuckDB writer).
- Freshness: each asset's `FreshnessPolicy` fails past the contract's `incident_after` for the
  entity the table is the System of Record of (2 days where the contract names none);
  `erp_lags` holds the contract's `Lag` per asset key, from which `orchestration/jobs.py`
  schedules the assets.
- (No `from __future__ import annotations`: Dagster inspects the `context` annotations.)
"""

from datetime import timedelta

import dagster as dg

from extractors.erp.tables import TABLES
from orchestration.freshness import (
    DEFAULT_INCIDENT_AFTER,
    Lag,
    contract_lags,
    freshness_policy,
)
from orchestration.policies import RETRY, WAREHOUSE_POOL, fail_fast_on_systematic
from orchestration.resources import (
    ErpResource,
    WarehouseResource,
)

GROUP = "raw_erp"


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
        with (
            fail_fast_on_systematic(),
            warehouse.open() as wh,
            erp.extractor(wh, context.run.run_id) as extractor,
        ):
            result = extractor.extract(table)
        context.log.info(
            f"erp {table}: landed {result.landed}, duplicates {result.duplicates}, "
            f"quarantined {result.quarantined}"
        )
        return dg.MaterializeResult(metadata=result.metadata())

    return _asset


_ERP_LAGS = contract_lags("erp", list(TABLES))
erp_assets: list[dg.AssetsDefinition] = [
    build_erp_asset(t, _ERP_LAGS[t].incident_after) for t in TABLES
]
erp_lags: dict[dg.AssetKey, Lag] = {
    dg.AssetKey(["raw", "erp", t]): lag for t, lag in _ERP_LAGS.items()
}
