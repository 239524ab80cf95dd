"""Billing (Stripe) raw landing as Dagster assets.

Contract:
- `billing_assets`: `raw_billing`, one subsettable multi-asset (`can_subset=True`) with a key
  `raw/billing/<object>` per listed billing object in group `raw_billing` (invoices also produce
  `raw/billing/line_item`, subscriptions `raw/billing/subscription_item`, payouts
  `raw/billing/payout_balance_transaction`): the objects a run selects are listed at once, their
  endpoints read concurrently within the client's pacer and landed by one writer (one step, one
  warehouse connection); selecting a child selects the listing of its parent. Plus
  `raw/billing/event`, the change log that re-reads changed objects and lands deletions.
  Each materialization reports, per table: rows landed, duplicates, quarantined, tombstones;
  and for the extract: cursor before/after, API calls, retries, duration. Counts only, no PII.
- Mode: incremental by default; a run tagged `q2c/billing_mode=full` re-lists everything and
  tombstones what the API stopped listing (`billing_full_relist_job` in `orchestration/jobs.py`).
  `raw/billing/event` in a run tagged `q2c/billing_mode=webhook` processes the webhook inbox
  (`BillingExtractor.apply_inbox`: targeted re-reads) instead of polling the events
  (`billing_webhook_job`, started by `orchestration/sensors.py`).
- `billing_lags`: the contract's `Lag` of every asset key (the change log `raw/billing/event`
  carries every object's changes, so it takes the strictest); `orchestration/jobs.py` schedules
  the assets from it.
- Jobs, schedules (`orchestration/jobs.py`) and the monthly `created` backfill
  (`orchestration/backfills.py`) live with those of the other sources.
- Resources: `billing` (`BillingApiResource`), `warehouse` (`WarehouseResource`).
- Assets run in the `warehouse` pool (DuckDB takes one writer) with a `RetryPolicy`
  (exponential backoff with jitter) for failures that outlast the client's own retries; a
  systematic error (refused key, missing endpoint) fails the step at once, without retries,
  with a message that says what to do.
- (No `from __future__ import annotations`: Dagster inspects the `context` annotations.)
"""

from collections.abc import Iterator
from functools import reduce

import dagster as dg

from extractors.billing.objects import LISTED_OBJECTS, OBJECTS
from orchestration.freshness import Lag, contract_lags, freshness_policy
from orchestration.policies import (
    MODE_TAG,
    RETRY,
    WAREHOUSE_POOL,
    WEBHOOK_MODE,
    fail_fast_on_systematic,
)
from orchestration.resources import BillingApiResource, WarehouseResource

GROUP = "raw_billing"


def asset_key(object_name: str) -> dg.AssetKey:
    """`raw/billing/<object>`: the dbt source of `raw.billing__<object>`."""
    return dg.AssetKey(["raw", "billing", object_name])


#: How late each landed billing object may be (the contract's lags); the change log carries
#: every object's changes, so it is held to the strictest of them.
_BILLING_LAGS = contract_lags("billing", [n for n in OBJECTS if n != "event"])
_BILLING_LAGS["event"] = reduce(Lag.tightest, _BILLING_LAGS.values(), Lag())


def _description(name: str) -> str:
    return (
        f"{OBJECTS[name].description} Table raw.billing__{name}, every version kept; "
        f"{_BILLING_LAGS[name].describe()} (the contract); changes between listings arrive "
        "through the billing change log."
    )


def _run_mode(context: dg.AssetExecutionContext) -> str:
    mode = context.run.tags.get(MODE_TAG, "incremental")
    if mode not in ("incremental", "full"):
        raise dg.Failure(f"tag {MODE_TAG} must be 'incremental' or 'full', got {mode!r}")
    return mode


def _specs(name: str) -> list[dg.AssetSpec]:
    """The asset specs of one listed billing object and the children it carries."""
    return [
        dg.AssetSpec(
            asset_key(table),
            group_name=GROUP,
            description=_description(table)
            if table == name
            else OBJECTS[table].description
            + f" Table raw.billing__{table}; landed with its parent {name}.",
            kinds={"stripe", "python"},
            tags={"source": "billing"},
            freshness_policy=freshness_policy(_BILLING_LAGS[table].incident_after),
            # The change log runs first in a shared run: before an object's first listing its
            # re-reads are skipped (the listing reads the current state), which keeps the
            # first run from retrieving every object touched in the last 30 days.
            deps=[asset_key("event")],
        )
        for table in (name, *OBJECTS[name].children)
    ]


@dg.multi_asset(
    name="raw_billing",
    specs=[spec for name in LISTED_OBJECTS for spec in _specs(name)],
    can_subset=True,
    retry_policy=RETRY,
    pool=WAREHOUSE_POOL,
)
def raw_billing_objects(
    context: dg.AssetExecutionContext,
    billing: BillingApiResource,
    warehouse: WarehouseResource,
) -> Iterator[dg.MaterializeResult]:
    """List the selected billing objects at once: their endpoints are read concurrently within
    the client's pacer and land through one writer (`BillingExtractor.extract_objects`)."""
    mode = _run_mode(context)
    selected = context.selected_asset_keys
    names = [
        n
        for n in LISTED_OBJECTS
        if any(asset_key(t) in selected for t in (n, *OBJECTS[n].children))
    ]
    with (
        fail_fast_on_systematic(),
        warehouse.open() as wh,
        billing.extractor(wh, context.run.run_id) as extractor,
    ):
        results = extractor.extract_objects(names, mode=mode)  # type: ignore[arg-type]
    for name, result in zip(names, results, strict=True):
        context.log.info(
            f"billing {name}: landed {result.landed}, duplicates {result.duplicates}, "
            f"quarantined {result.quarantined}, {result.api_requests} API requests ({result.mode})"
        )
        for table in (name, *OBJECTS[name].children):
            if asset_key(table) in selected:
                yield dg.MaterializeResult(
                    asset_key=asset_key(table), metadata=result.metadata(table)
                )


@dg.asset(
    key=asset_key("event"),
    group_name=GROUP,
    description=_description("event"),
    retry_policy=RETRY,
    pool=WAREHOUSE_POOL,
    kinds={"stripe", "python"},
    tags={"source": "billing"},
    freshness_policy=freshness_policy(_BILLING_LAGS["event"].incident_after),
)
def raw_billing_event(
    context: dg.AssetExecutionContext,
    billing: BillingApiResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """Read the billing events, re-read the objects they changed, land deletions.

    In a run tagged `q2c/billing_mode=webhook` (`billing_webhook_job`, started by the webhook
    sensor) it processes the webhook inbox instead of polling: targeted re-reads only.
    """
    with (
        fail_fast_on_systematic(),
        warehouse.open() as wh,
        billing.extractor(wh, context.run.run_id) as extractor,
    ):
        if context.run.tags.get(MODE_TAG) == WEBHOOK_MODE:
            result = extractor.apply_inbox()
        else:
            result = extractor.extract_events()
    context.log.info(
        f"billing events: {result.events_processed} new, {result.objects_reread} objects re-read, "
        f"landed {result.landed}, quarantined {result.quarantined}"
    )
    return dg.MaterializeResult(metadata=result.metadata("event"))


billing_assets: list[dg.AssetsDefinition] = [raw_billing_event, raw_billing_objects]
#: The lag each key is scheduled by: a listing lands its children, so an object and its
#: children are scheduled together, by the strictest of their lags.
billing_lags: dict[dg.AssetKey, Lag] = {asset_key("event"): _BILLING_LAGS["event"]}
for _name in LISTED_OBJECTS:
    _tables = (_name, *OBJECTS[_name].children)
    _unit_lag = reduce(Lag.tightest, (_BILLING_LAGS[t] for t in _tables), Lag())
    billing_lags.update({asset_key(t): _unit_lag for t in _tables})
