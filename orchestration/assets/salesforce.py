"""Salesforce (CRM) raw landing as Dagster assets.

Contract:
- `salesforce_assets`: one asset per configured object, key `raw/salesforce/<object>`
  (lowercase, the dbt source names), group `raw_salesforce`. Each materialization runs the
  incremental extract (`extractors.salesforce.SalesforceExtractor.extract`) and reports rows
  landed, duplicates, quarantined, deletions seen, cursor before/after, API requests and the
  org's API usage (from `Sforce-Limit-Info`), and duration. Only counts and cursors: no PII.
- Freshness: each asset's `FreshnessPolicy` fails past the contract's `sync.incident_after`
  for the entity the object is the System of Record of; `salesforce_lags` holds the contract's
  `Lag` per asset key, from which `orchestration/jobs.py` schedules the assets. The monthly
  Bulk API 2.0 backfill is in `orchestration/backfills.py`.
- Resources: `salesforce` (`SalesforceResource`) and `warehouse` (`WarehouseResource`), both
  in `orchestration/resources.py`.
- Assets run in the `warehouse` pool (DuckDB takes one writer) with a `RetryPolicy`
  (exponential backoff with jitter) for transient failures that outlast the extractor's own
  retries; systematic ones (auth, API budget, schema) fail at once with the hint
  (`orchestration.policies.fail_fast_on_systematic`).
- (No `from __future__ import annotations`: Dagster inspects the `context` annotations.)
"""

from datetime import timedelta

import dagster as dg

from extractors.salesforce import configured_objects
from extractors.salesforce.extract import table_name
from orchestration.freshness import (
    DEFAULT_INCIDENT_AFTER,
    Lag,
    contract_lags,
    freshness_policy,
)
from orchestration.policies import RETRY, WAREHOUSE_POOL, fail_fast_on_systematic
from orchestration.resources import (
    SalesforceResource,
    WarehouseResource,
)

GROUP = "raw_salesforce"

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
        with (
            fail_fast_on_systematic(),
            warehouse.open() as wh,
            salesforce.extractor(wh, context.run.run_id) as extractor,
        ):
            result = extractor.extract(sobject)
        context.log.info(
            f"{sobject}: landed {result.landed}, duplicates {result.duplicates}, "
            f"quarantined {result.quarantined} ({result.mode})"
        )
        return dg.MaterializeResult(metadata=result.metadata())

    return _asset


SALESFORCE_OBJECTS = configured_objects()
_SF_LAGS = contract_lags("salesforce", [table_name(o) for o in SALESFORCE_OBJECTS])
salesforce_assets: list[dg.AssetsDefinition] = [
    build_salesforce_asset(o, _SF_LAGS[table_name(o)].incident_after) for o in SALESFORCE_OBJECTS
]
salesforce_lags: dict[dg.AssetKey, Lag] = {
    dg.AssetKey(["raw", "salesforce", n]): lag for n, lag in _SF_LAGS.items()
}
