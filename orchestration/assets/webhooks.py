"""The billing webhook inbox as a Dagster asset: the nightly recovery and reconcile.

Contract:
- `raw/billing/webhook_event` is `raw.billing__webhook_event`, the inbox `q2c webhooks serve`
  writes (`extractors/billing/webhooks.py`). Its materialization (`billing_webhook_reconcile_job`,
  nightly at 02:30 UTC) lands what the endpoint never received: first the Events API's
  undelivered events (`delivery_success=false`, oldest first), then every listed event (30 days)
  the inbox lacks. `billing_webhook_sensor` then re-reads their objects.
- Without webhook secrets configured (`Q2C_BILLING_WEBHOOK_SECRETS`) there is no endpoint to
  reconcile: the materialization lands nothing and says so.
- Metadata: counts only (listed, landed, already there, quarantined), never an event's content.
- (No `from __future__ import annotations`: Dagster inspects the `context` annotations.)
"""

import dagster as dg

from orchestration.assets.billing import GROUP, asset_key
from orchestration.jobs import build_schedule
from orchestration.policies import RETRY, SOURCE_TAG, WAREHOUSE_POOL, fail_fast_on_systematic
from orchestration.resources import BillingApiResource, WarehouseResource
from q2c.settings import load_settings

RECONCILE_CRON = "30 2 * * *"


@dg.asset(
    key=asset_key("webhook_event"),
    group_name=GROUP,
    description=(
        "The billing webhook inbox (raw.billing__webhook_event): each event received by "
        "`q2c webhooks serve` (signature verified, one row per event id), plus what the nightly "
        "recovery and reconcile against the Events API found missing."
    ),
    retry_policy=RETRY,
    pool=WAREHOUSE_POOL,
    kinds={"stripe", "python"},
    tags={"source": "billing"},
)
def raw_billing_webhook_event(
    context: dg.AssetExecutionContext,
    billing: BillingApiResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """Land the events the webhook endpoint never received (recovery, then reconcile)."""
    if not load_settings().billing_webhook_secrets:
        context.log.info("no webhook endpoint configured (Q2C_BILLING_WEBHOOK_SECRETS): skipped")
        return dg.MaterializeResult(metadata={"configured": False})
    with (
        fail_fast_on_systematic(),
        warehouse.open() as wh,
        billing.extractor(wh, context.run.run_id) as extractor,
    ):
        recovered = extractor.recover_events(reconcile=False)
        reconciled = extractor.recover_events(reconcile=True)
    context.log.info(
        f"webhook inbox: {recovered.landed} undelivered events recovered, "
        f"{reconciled.landed} more found missing by the reconcile"
    )
    return dg.MaterializeResult(
        metadata={
            "configured": True,
            "undelivered_listed": recovered.rows_read,
            "recovered": recovered.landed,
            "reconcile_listed": reconciled.rows_read,
            "missing_found": reconciled.landed,
            "quarantined": recovered.quarantined + reconciled.quarantined,
            "api_requests": recovered.api_requests + reconciled.api_requests,
        }
    )


billing_webhook_reconcile_job = dg.define_asset_job(
    "billing_webhook_reconcile_job",
    selection=dg.AssetSelection.assets(raw_billing_webhook_event),
    description="Nightly: land the billing events the webhook endpoint never received.",
    tags={SOURCE_TAG: "billing"},
)
billing_webhook_reconcile_schedule = build_schedule(
    billing_webhook_reconcile_job,
    RECONCILE_CRON,
    "Nightly at 02:30 UTC: compare the webhook inbox with the billing Events API and land "
    "what never arrived; skipped while the job is queued or running.",
)
webhook_assets = [raw_billing_webhook_event]
webhook_reconcile_jobs = [billing_webhook_reconcile_job]
webhook_reconcile_schedules = [billing_webhook_reconcile_schedule]
