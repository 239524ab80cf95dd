"""Billing (Stripe) raw landing as Dagster assets, the monthly `created` backfill, and its jobs.

Contract:
- `billing_assets`: one multi-asset per listed billing object, keys `raw/billing/<object>` in
  group `raw_billing` (invoices also produce `raw/billing/line_item`, subscriptions
  `raw/billing/subscription_item`, payouts `raw/billing/payout_balance_transaction`), plus
  `raw/billing/event`, the change log that re-reads changed objects and lands deletions.
  Each materialization reports, per table: rows landed, duplicates, quarantined, tombstones;
  and for the extract: cursor before/after, API calls, retries, duration. Counts only, no PII.
- Mode: incremental by default; a run tagged `q2c/billing_mode=full` re-lists everything and
  tombstones what the API stopped listing (`billing_full_relist_job` in `orchestration/jobs.py`).
- `FREQUENT_KEYS` (payments, subscriptions, charges, refunds, disputes, events: every 15
  minutes) and `DAILY_KEYS` (the rest) are what the jobs and schedules select.
- `billing_backfill_job`: partitioned by month of `created` (from `BILLING_BACKFILL_START`);
  each partition lists that window of every object with a `created` filter and lands what the
  warehouse lacks; partitions are independent runs, so a backfill resumes partition by partition;
  cursors are left alone.
- Resources: `billing` (`BillingApiResource`), `warehouse` (`WarehouseResource`).
- Assets run in the `warehouse` pool (DuckDB takes one writer) with a `RetryPolicy`
  (exponential backoff with jitter) for failures that outlast the client's own retries; a
  systematic error (refused key, missing endpoint) fails the step at once, without retries,
  with a message that says what to do.
- (No `from __future__ import annotations`: Dagster inspects the `context` annotations.)
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from extractors.billing import BillingExtractor, ExtractResult
from extractors.billing.objects import LISTED_OBJECTS, OBJECTS
from orchestration.freshness import contract_incident_after, freshness_policy
from orchestration.policies import MODE_TAG, RETRY, WAREHOUSE_POOL, fail_fast_on_systematic
from orchestration.resources import BillingApiResource, WarehouseResource

GROUP = "raw_billing"
BILLING_BACKFILL_START = "2024-01-01"


def asset_key(object_name: str) -> dg.AssetKey:
    """`raw/billing/<object>`: the dbt source of `raw.billing__<object>`."""
    return dg.AssetKey(["raw", "billing", object_name])


def table_metadata(result: ExtractResult, table: str) -> dict[str, Any]:
    """Materialization metadata of one raw table after an extract (counts, never contents)."""
    stats = result.table(table)
    meta: dict[str, Any] = {
        "rows_landed": dg.MetadataValue.int(stats.landed),
        "duplicates": dg.MetadataValue.int(stats.duplicates),
        "quarantined": dg.MetadataValue.int(stats.quarantined),
        "tombstones": dg.MetadataValue.int(stats.tombstones),
        "mode": result.mode,
        "complete": result.complete,
        "cursor_before": result.cursor_before or "",
        "cursor_after": result.cursor_after or "",
        "api_calls": dg.MetadataValue.int(result.api_calls),
        "retries": dg.MetadataValue.int(result.retries),
        "duration_s": dg.MetadataValue.float(round(result.seconds, 3)),
        "table": f"raw.billing__{table}",
    }
    if table == "event":
        meta["events_processed"] = dg.MetadataValue.int(result.events_processed)
        meta["objects_reread"] = dg.MetadataValue.int(result.objects_reread)
        meta["reread_skipped_before_first_listing"] = dg.MetadataValue.int(result.reread_skipped)
        meta["landed_by_table"] = dg.MetadataValue.json(
            {name: t.landed for name, t in sorted(result.tables.items())}
        )
    return meta


def _description(name: str) -> str:
    obj = OBJECTS[name]
    how = (
        "Refreshed every 15 minutes."
        if obj.frequent
        else "Refreshed daily; changes in between arrive through the billing change log."
    )
    return f"{obj.description} Table raw.billing__{name}, every version kept. {how}"


def _run_mode(context: dg.AssetExecutionContext) -> str:
    mode = context.run.tags.get(MODE_TAG, "incremental")
    if mode not in ("incremental", "full"):
        raise dg.Failure(f"tag {MODE_TAG} must be 'incremental' or 'full', got {mode!r}")
    return mode


def _extractor(
    billing: BillingApiResource, warehouse_wh: Any, run_id: str
) -> tuple[BillingExtractor, Any]:
    client = billing.client()
    return (
        BillingExtractor(
            client,
            warehouse_wh,
            run_id=run_id,
            overlap_seconds=billing.overlap_seconds,
            event_overlap_seconds=billing.event_overlap_seconds,
            batch_size=billing.batch_size,
        ),
        client,
    )


#: How stale each landed billing object may get before it is an incident (the contract's lag).
_BILLING_LAGS = contract_incident_after("billing", list(OBJECTS))


def build_billing_asset(name: str) -> dg.AssetsDefinition:
    """The landing multi-asset of one listed billing object and the children it carries."""
    obj = OBJECTS[name]
    tables = (name, *obj.children)
    specs = [
        dg.AssetSpec(
            asset_key(table),
            group_name=GROUP,
            description=_description(table)
            if table == name
            else OBJECTS[table].description
            + f" Table raw.billing__{table}; landed with its parent {name}.",
            kinds={"stripe", "python"},
            tags={"source": "billing", "freshness": "frequent" if obj.frequent else "daily"},
            freshness_policy=freshness_policy(_BILLING_LAGS[table]),
            # The change log runs first in a shared run: before an object's first listing its
            # re-reads are skipped (the listing reads the current state), which keeps the
            # first run from retrieving every object touched in the last 30 days.
            deps=[asset_key("event")],
        )
        for table in tables
    ]

    @dg.multi_asset(
        name=f"raw_billing_{name}",
        specs=specs,
        retry_policy=RETRY,
        pool=WAREHOUSE_POOL,
    )
    def _asset(
        context: dg.AssetExecutionContext,
        billing: BillingApiResource,
        warehouse: WarehouseResource,
    ) -> Iterator[dg.MaterializeResult]:
        mode = _run_mode(context)
        with fail_fast_on_systematic(), warehouse.open() as wh:
            extractor, _ = _extractor(billing, wh, context.run.run_id)
            result = extractor.extract_object(name, mode=mode)  # type: ignore[arg-type]
        context.log.info(
            f"billing {name}: landed {result.landed}, duplicates {result.duplicates}, "
            f"quarantined {result.quarantined}, {result.api_calls} API calls ({result.mode})"
        )
        for table in tables:
            yield dg.MaterializeResult(
                asset_key=asset_key(table), metadata=table_metadata(result, table)
            )

    return _asset


@dg.asset(
    key=asset_key("event"),
    group_name=GROUP,
    description=_description("event"),
    retry_policy=RETRY,
    pool=WAREHOUSE_POOL,
    kinds={"stripe", "python"},
    tags={"source": "billing", "freshness": "frequent"},
    freshness_policy=freshness_policy(_BILLING_LAGS["event"]),
)
def raw_billing_event(
    context: dg.AssetExecutionContext,
    billing: BillingApiResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """Read the billing events, re-read the objects they changed, land deletions."""
    with fail_fast_on_systematic(), warehouse.open() as wh:
        extractor, _ = _extractor(billing, wh, context.run.run_id)
        result = extractor.extract_events()
    context.log.info(
        f"billing events: {result.events_processed} new, {result.objects_reread} objects re-read, "
        f"landed {result.landed}, quarantined {result.quarantined}"
    )
    return dg.MaterializeResult(metadata=table_metadata(result, "event"))


billing_object_assets: list[dg.AssetsDefinition] = [build_billing_asset(n) for n in LISTED_OBJECTS]
billing_assets: list[dg.AssetsDefinition] = [raw_billing_event, *billing_object_assets]

#: Asset keys refreshed every 15 minutes (payments, subscription state, refunds, disputes, events).
FREQUENT_KEYS: list[dg.AssetKey] = [
    asset_key(t)
    for n, o in OBJECTS.items()
    if o.frequent and o.list_path is not None
    for t in (n, *o.children)
]
DAILY_KEYS: list[dg.AssetKey] = [
    asset_key(t)
    for n, o in OBJECTS.items()
    if not o.frequent and o.list_path is not None
    for t in (n, *o.children)
]
ALL_KEYS: list[dg.AssetKey] = FREQUENT_KEYS + DAILY_KEYS

# -- backfill over `created` windows ------------------------------------------------------

billing_monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=BILLING_BACKFILL_START, end_offset=1
)

#: Objects whose list filters on `created` (the backfill windows need it).
BACKFILL_OBJECTS: tuple[str, ...] = tuple(n for n in LISTED_OBJECTS if OBJECTS[n].created_filter)


@dg.op(
    name="backfill_billing_window",
    retry_policy=RETRY,
    pool=WAREHOUSE_POOL,
    tags={"source": "billing"},
    description="List one month (by `created`) of every billing object and land what is missing.",
)
def backfill_billing_window(
    context: dg.OpExecutionContext,
    billing: BillingApiResource,
    warehouse: WarehouseResource,
) -> dg.Output[int]:
    window = context.partition_time_window
    gte, lt = int(window.start.timestamp()), int(window.end.timestamp())
    landed = 0
    with fail_fast_on_systematic(), warehouse.open() as wh:
        extractor, _ = _extractor(billing, wh, context.run.run_id)
        for name in BACKFILL_OBJECTS:
            result = extractor.extract_object(name, window=(gte, lt))
            landed += result.landed
            for table in (name, *OBJECTS[name].children):
                context.log_event(
                    dg.AssetMaterialization(
                        asset_key=asset_key(table),
                        description=f"backfill of {context.partition_key}",
                        metadata={
                            **table_metadata(result, table),
                            "window": f"[{gte}, {lt})",
                        },
                    )
                )
    context.log.info(f"billing backfill {context.partition_key}: landed {landed}")
    return dg.Output(landed, metadata={"rows_landed": landed, "window": f"[{gte}, {lt})"})


@dg.job(
    name="billing_backfill_job",
    partitions_def=billing_monthly_partitions,
    description=(
        "Re-read one month (by `created`) of every billing object with a `created` filter and "
        "land what the warehouse lacks. Each month is its own run: a stopped backfill resumes "
        "partition by partition. Incremental cursors are left alone."
    ),
    tags={"source": "billing"},
)
def billing_backfill_job() -> None:
    backfill_billing_window()
