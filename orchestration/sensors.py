"""Sensors of q2c: the billing webhook inbox turned into targeted re-reads.

Contract:
- `billing_webhook_job`: materializes `raw/billing/event` in a run tagged
  `q2c/billing_mode=webhook`, where the change log processes the webhook inbox instead of
  polling (`BillingExtractor.apply_inbox`): each object an inbox event names is re-read by id and
  landed with the event id as `provider_ref`, then the event lands in `raw.billing__event`.
- `billing_webhook_sensor` (every 30 s, created stopped like every schedule): reads the inbox
  events not yet processed that arrived at or after its cursor. None: the cursor moves to the
  newest arrival and the tick skips. Some: one run request of `billing_webhook_job`, its
  `run_key` the hash of the pending event ids (Dagster never starts two runs with one key, so a
  re-evaluation before the run lands them asks for nothing new), and the cursor moves to the
  oldest pending arrival, so it never passes an event not yet processed. It skips while the job
  is queued or running, on DuckDB while any run is in progress (opening the file then could
  fail one of its steps), and while another process holds the file (the next tick retries).
- Idempotent by construction: an event in `raw.billing__event` is done, and a run processes
  every pending inbox event, whichever request started it. The sensor reads the warehouse only.
- With webhooks, a changed object lands within the sensor interval plus one run (well inside
  the contract's lags); the poll (`orchestration/jobs.py`) stays the completeness guarantee.
"""

import hashlib
from datetime import datetime

import dagster as dg
import duckdb

from extractors.billing.webhooks import latest_arrival, pending_events
from orchestration.assets.billing import asset_key
from orchestration.jobs import ACTIVE_STATUSES, skip_if_running
from orchestration.policies import MODE_TAG, SOURCE_TAG, WEBHOOK_MODE
from orchestration.resources import WarehouseResource
from q2c.warehouse import WarehouseUrl

#: Pending events one run request names (a run processes every pending one anyway).
MAX_EVENTS_PER_REQUEST = 1_000

billing_webhook_job = dg.define_asset_job(
    "billing_webhook_job",
    selection=dg.AssetSelection.assets(asset_key("event")),
    description=(
        "Targeted re-reads of the objects named by the webhook inbox's unprocessed events "
        "(started by billing_webhook_sensor)."
    ),
    tags={SOURCE_TAG: "billing", MODE_TAG: WEBHOOK_MODE},
)


def webhook_run_key(event_ids: list[str]) -> str:
    """The run key of a request for these pending events (order does not matter)."""
    digest = hashlib.sha256(",".join(sorted(event_ids)).encode()).hexdigest()[:20]
    return f"webhook:{digest}"


@dg.sensor(
    name="billing_webhook_sensor",
    job=billing_webhook_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "New billing webhook events (raw.billing__webhook_event) -> targeted re-reads of their "
        "objects (billing_webhook_job), without waiting for the poll."
    ),
)
def billing_webhook_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource
) -> dg.RunRequest | dg.SkipReason:
    since = datetime.fromisoformat(context.cursor) if context.cursor else None
    if not WarehouseUrl.parse(warehouse.url).is_postgres:
        # DuckDB takes one process at a time: opening the file while a run's step opens it
        # would fail that step, so the sensor looks only between runs.
        busy = context.instance.get_run_records(
            filters=dg.RunsFilter(statuses=ACTIVE_STATUSES), limit=1
        )
        if busy:
            return dg.SkipReason("a run is in progress and DuckDB takes one process; next tick")
    try:
        with warehouse.open() as wh:
            pending = pending_events(wh, received_since=since, limit=MAX_EVENTS_PER_REQUEST)
            newest = latest_arrival(wh) if not pending else None
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise
        return dg.SkipReason("the warehouse is held by another process; next tick")
    if not pending:
        if newest is not None:
            context.update_cursor(newest.isoformat())
        return dg.SkipReason("no unprocessed webhook events")
    context.update_cursor(pending[0].received_at.isoformat())
    skip = skip_if_running(context.instance, billing_webhook_job.name)
    if skip is not None:
        return skip
    ids = [e.event_id for e in pending]
    return dg.RunRequest(
        run_key=webhook_run_key(ids),
        tags={MODE_TAG: WEBHOOK_MODE, "q2c/webhook_events": str(len(ids))},
    )


webhook_sensors = [billing_webhook_sensor]
webhook_jobs = [billing_webhook_job]
