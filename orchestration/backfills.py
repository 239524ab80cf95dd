"""Backfills: partitioned jobs that re-read one month of a source and land what is missing.

Contract:
- `billing_backfill_job`: partitioned by month of `created` (from `BACKFILL_START`); each
  partition lists that window of every billing object with a `created` filter.
- `salesforce_backfill_job`: partitioned by month of `SystemModstamp`; each partition re-reads
  that month of every configured object with Bulk API 2.0 `queryAll`.
- Partitions are independent runs, so a stopped backfill resumes partition by partition;
  incremental cursors are left alone. Each op reports the materializations of the raw assets it
  landed into (the same metadata as the incremental assets).
- Ops run in the warehouse pool with the shared `RETRY` and fail fast on systematic errors
  (`orchestration/policies.py`). Backfills are started by hand (no schedule).
- (No `from __future__ import annotations`: Dagster inspects the `context` annotations.)
"""

import dagster as dg

from extractors.billing.objects import LISTED_OBJECTS, OBJECTS
from extractors.salesforce.extract import table_name
from orchestration.assets.billing import asset_key
from orchestration.assets.salesforce import SALESFORCE_OBJECTS
from orchestration.policies import RETRY, WAREHOUSE_POOL, fail_fast_on_systematic
from orchestration.resources import BillingApiResource, SalesforceResource, WarehouseResource

BACKFILL_START = "2024-01-01"

monthly_partitions = dg.MonthlyPartitionsDefinition(start_date=BACKFILL_START, end_offset=1)
#: The billing backfill's partitions (the same months as Salesforce's).
billing_monthly_partitions = monthly_partitions

#: Billing objects whose list filters on `created` (the backfill windows need it).
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
    with (
        fail_fast_on_systematic(),
        warehouse.open() as wh,
        billing.extractor(wh, context.run.run_id) as extractor,
    ):
        # Every object's window at once (endpoints read concurrently, one writer landing them).
        results = extractor.extract_objects(BACKFILL_OBJECTS, window=(gte, lt))
        for name, result in zip(BACKFILL_OBJECTS, results, strict=True):
            landed += result.landed
            for table in (name, *OBJECTS[name].children):
                context.log_event(
                    dg.AssetMaterialization(
                        asset_key=asset_key(table),
                        description=f"backfill of {context.partition_key}",
                        metadata={
                            **result.metadata(table),
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


def build_salesforce_backfill_op(sobject: str) -> dg.OpDefinition:
    """The op that re-reads one month of one Salesforce object through Bulk API 2.0."""

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
        with (
            fail_fast_on_systematic(),
            warehouse.open() as wh,
            salesforce.extractor(wh, context.run.run_id) as extractor,
        ):
            result = extractor.backfill(sobject, window.start, window.end)
        context.log.info(
            f"{sobject} {context.partition_key}: read {result.rows_read}, landed {result.landed}"
        )
        return dg.Output(result.landed, metadata=result.metadata())

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
        build_salesforce_backfill_op(sobject)()


backfill_jobs: list[dg.JobDefinition] = [billing_backfill_job, salesforce_backfill_job]
