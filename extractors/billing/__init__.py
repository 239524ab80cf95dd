"""Billing (Stripe) extractor: the official `stripe` SDK into `raw.billing__<object>`.

Objects (docs: https://docs.stripe.com/api): customers, products, prices, coupons,
subscriptions (`status=all`) with their items, invoices with their line items, invoice items,
credit notes, payment intents, charges, refunds, disputes, balance transactions, payouts with the
balance transactions each settled (`raw.billing__payout_balance_transaction`, id
`<payout>:<txn>`), connected accounts, transfers, and events.

Cursors (in `ops.cursors`): per object, the max `created` seen (re-read from `cursor - overlap`);
for events, the max event `created`. Changed and deleted objects come from the events stream
(30 days); `mode="full"` re-lists everything and tombstones what the API stopped listing.

Modules: `client` (SDK, retries, errors), `objects` (the catalogue), `normalize`
(`normalize_record`), `extract` (`BillingExtractor`). Entry points below.
"""

from __future__ import annotations

from extractors.billing.client import (
    BillingClient,
    BillingCredentials,
    RetrySettings,
)
from extractors.billing.extract import BillingExtractor, Mode
from extractors.billing.normalize import normalize_record
from extractors.billing.objects import LISTED_OBJECTS, OBJECTS, BillingObject
from extractors.result import ExtractResult, TableStats
from q2c.warehouse import Warehouse

__all__ = [
    "LISTED_OBJECTS",
    "OBJECTS",
    "BillingClient",
    "BillingCredentials",
    "BillingExtractor",
    "BillingObject",
    "ExtractResult",
    "Mode",
    "RetrySettings",
    "TableStats",
    "extract_billing",
    "normalize_record",
]


def extract_billing(
    client: BillingClient,
    wh: Warehouse,
    *,
    run_id: str,
    objects: tuple[str, ...] | None = None,
    mode: Mode = "incremental",
    overlap_seconds: int = 3_600,
    batch_size: int = 2_000,
) -> list[ExtractResult]:
    """Extract the event stream, then every listed object (or those in `objects`) at once.

    Args:
        client: the billing API client.
        wh: the warehouse to land into.
        run_id: recorded on every landed row.
        objects: the listed objects to extract (default: all); `"event"` for the stream.
        mode: `incremental` or `full` (a full re-list with deletion detection).
        overlap_seconds: how far each `created` window reaches back before the cursor.
        batch_size: records per landing transaction.

    Returns:
        One `ExtractResult` per object, the events first.
    """
    wanted = objects or ("event", *LISTED_OBJECTS)
    results = []
    with BillingExtractor(
        client,
        wh,
        run_id=run_id,
        overlap_seconds=overlap_seconds,
        event_overlap_seconds=overlap_seconds,
        batch_size=batch_size,
    ) as extractor:
        if "event" in wanted:
            results.append(extractor.extract_events())
        # The listed objects at once (their endpoints concurrently, one writer landing them).
        listed = [name for name in wanted if name != "event"]
        results.extend(extractor.extract_objects(listed, mode=mode))
    return results
