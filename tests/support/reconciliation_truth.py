"""Matching reported reconciliation breaks with the world's injected discrepancies.

Shared by the dbt reconciliation test (raw tables loaded from the world) and the end-to-end
test (raw tables landed by the extractors through the stand-ins).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import duckdb

#: Stripe lists only the last 30 days of events (by the world's clock in the sandbox): an
#: event discrepancy injected on an older event cannot reach any pipeline through the API.
EVENT_RETENTION_SECONDS = 30 * 86400
EVENT_KINDS = frozenset({"event_duplicate", "event_out_of_order", "event_late"})

# kind -> (truth key for source_object_id, truth key for target_object_id or None)
KEYS: dict[str, tuple[str, str | None]] = {
    "erp_invoice_missing": ("invoice", None),
    "erp_amount_mismatch": ("invoice", "erp_transaction"),
    "erp_currency_mismatch": ("invoice", "erp_transaction"),
    "erp_wrong_period": ("invoice", "erp_transaction"),
    "erp_duplicate_posting": ("invoice", "erp_duplicate"),
    "erp_payment_unapplied": ("charge", "erp_payment"),
    "erp_refund_missing": ("refund", None),
    "payout_sum_mismatch": ("payout", None),
    "payout_not_posted": ("payout", None),
    "crm_billing_status_stale": ("customer", "account"),
    "deal_without_subscription": ("opportunity", None),
    "subscription_without_deal": ("subscription", None),
    "customer_without_account": ("customer", None),
    "customer_linked_to_deleted_account": ("customer", "account"),
    "event_duplicate": ("duplicate_of", "event"),
    "event_out_of_order": ("event", None),
    "event_late": ("event", None),
    "case_dunning_without_priority": ("case", None),
    "payout_to_unverified_account": ("account", "payout"),
    "invalid_eu_vat": ("customer", None),
}


def truth_keys(
    world_dir: Path, *, listable_events_only: bool = False
) -> set[tuple[str, str, str | None]]:
    """(kind, source id, target id) of every injected discrepancy.

    With `listable_events_only`, event discrepancies whose event is older than the API's
    event retention (by the world's clock) are left out: only a test loader that reads the
    world's files directly can see those.
    """
    con = sqlite3.connect(world_dir / "truth.sqlite")
    try:
        rows = con.execute("select kind, object_ids from discrepancies").fetchall()
    finally:
        con.close()
    listable = _listable_event_ids(world_dir) if listable_events_only else None
    out = set()
    for kind, object_ids in rows:
        ids = json.loads(object_ids)
        if listable is not None and kind in EVENT_KINDS and ids["event"] not in listable:
            continue
        source_key, target_key = KEYS[kind]
        out.add((kind, str(ids[source_key]), str(ids[target_key]) if target_key else None))
    return out


def break_keys(db_path: Path) -> set[tuple[str, str, str | None]]:
    """(kind, source id, target id) of every reported break."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        rows = con.execute(
            "select break_kind, source_object_id, target_object_id"
            " from reconciliation.rec_breaks"
        ).fetchall()
    finally:
        con.close()
    return {(k, s, t if KEYS[k][1] else None) for k, s, t in rows}


def _listable_event_ids(world_dir: Path) -> set[str]:
    con = sqlite3.connect(world_dir / "billing.sqlite")
    try:
        (now,) = con.execute("select value from meta where key = 'now'").fetchone()
        rows = con.execute(
            "select id from objects where object = 'event' and created >= ?",
            (int(now) - EVENT_RETENTION_SECONDS,),
        ).fetchall()
    finally:
        con.close()
    return {r[0] for r in rows}
