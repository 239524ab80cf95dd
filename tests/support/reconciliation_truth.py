"""Matching reported reconciliation breaks with the world's injected discrepancies.

Shared by the dbt reconciliation test (raw tables loaded from the world) and the end-to-end
test (raw tables landed by the extractors through the stand-ins).

Two comparisons: `truth_keys` / `break_keys` give (kind, source id, target id) for the
precision/recall of kinds and ids; `truth_amounts` / `break_amounts` give, per such key, the
amounts and currencies the truth records in its `detail` (see `AMOUNTS`) and the break's
columns, as exact Decimals in major units and lowercase currency codes.
"""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
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
    # a record with several rule-match candidates (its candidates are in the detail)
    "ambiguous_match": ("record", None),
}


#: rec_breaks column -> truth `detail` field, for the kinds whose truth records amounts.
#: Amount fields are integer minor units of the row's currency unless the field name ends
#: in `@major` (the CRM's opportunity amount is a major-unit decimal).
AMOUNTS: dict[str, dict[str, str]] = {
    "erp_invoice_missing": {"source_amount": "amount", "currency": "currency"},
    "erp_amount_mismatch": {
        "source_amount": "billing_amount",
        "target_amount": "erp_amount",
        "currency": "currency",
    },
    "erp_currency_mismatch": {
        "source_amount": "amount",
        "currency": "billing_currency",
        "target_currency": "erp_currency",
    },
    "erp_duplicate_posting": {"source_amount": "amount", "currency": "currency"},
    "erp_wrong_period": {"source_amount": "amount", "currency": "currency"},
    "erp_payment_unapplied": {"source_amount": "amount", "currency": "currency"},
    "erp_refund_missing": {"source_amount": "amount", "currency": "currency"},
    "payout_not_posted": {"source_amount": "amount", "currency": "currency"},
    "payout_sum_mismatch": {
        "source_amount": "payout_amount",
        "target_amount": "listed_net",
        "currency": "currency",
    },
    "payout_to_unverified_account": {"source_amount": "amount", "currency": "currency"},
    "deal_without_subscription": {"source_amount": "amount@major", "currency": "currency"},
}

#: Stripe's zero- and three-decimal currencies (https://docs.stripe.com/currencies); every
#: other currency has two decimals.
ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())
THREE_DECIMAL = frozenset("bhd jod kwd omr tnd".split())


def minor_to_major(amount: int, currency: str) -> Decimal:
    """Integer minor units -> exact major units of `currency`."""
    code = currency.lower()
    exponent = 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2
    return Decimal(int(amount)).scaleb(-exponent)


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
        out.add(_truth_key(kind, ids))
    return out


def _truth_key(kind: str, ids: dict[str, object]) -> tuple[str, str, str | None]:
    """(kind, source id, target id) of one truth row; ids compared as text (an ERP internal
    id may be an integer or a string), a target the truth records as null (the ERP lacks
    the record) is None."""
    source_key, target_key = KEYS[kind]
    target = ids.get(target_key) if target_key else None
    return (kind, str(ids[source_key]), None if target is None else str(target))


def break_key(kind: str, source: str, target: str | None) -> tuple[str, str, str | None]:
    """A reported break keyed as the truth is (no target for kinds whose truth has none)."""
    keys = KEYS.get(kind)
    return (kind, source, target if keys is None or keys[1] else None)


def _breaks(db_path: Path, columns: str) -> list[tuple]:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return con.execute(f"select {columns} from reconciliation.rec_breaks").fetchall()
    finally:
        con.close()


def break_keys(db_path: Path) -> set[tuple[str, str, str | None]]:
    """(kind, source id, target id) of every reported break."""
    rows = _breaks(db_path, "break_kind, source_object_id, target_object_id")
    return {break_key(k, s, t) for k, s, t in rows}


def truth_amounts(world_dir: Path) -> dict[tuple[str, str, str | None], dict[str, object]]:
    """Per truth key (as `truth_keys`), the amounts and currencies its `detail` records.

    Only kinds in `AMOUNTS`; amounts as Decimal major units, currencies lowercase.
    """
    con = sqlite3.connect(world_dir / "truth.sqlite")
    try:
        rows = con.execute("select kind, object_ids, detail from discrepancies").fetchall()
    finally:
        con.close()
    out: dict[tuple[str, str, str | None], dict[str, object]] = {}
    for kind, object_ids, detail_text in rows:
        fields = AMOUNTS.get(kind)
        if fields is None:
            continue
        ids = json.loads(object_ids)
        detail = json.loads(detail_text, parse_float=Decimal)
        key = _truth_key(kind, ids)
        currency = str(detail[fields["currency"]]).lower()
        expected: dict[str, object] = {}
        for column, field in fields.items():
            name, _, unit = field.partition("@")
            value = detail[name]
            if column.endswith("currency"):
                expected[column] = str(value).lower()
            elif unit == "major":
                expected[column] = Decimal(str(value))
            else:
                expected[column] = minor_to_major(value, currency)
        out[key] = expected
    return out


def break_amounts(db_path: Path) -> dict[tuple[str, str, str | None], dict[str, object]]:
    """Per break key (as `break_keys`), its amounts (Decimal) and currencies (lowercase)."""
    rows = _breaks(
        db_path,
        "break_kind, source_object_id, target_object_id, source_amount, target_amount,"
        " currency, target_currency",
    )
    out: dict[tuple[str, str, str | None], dict[str, object]] = {}
    for kind, source, target, source_amount, target_amount, currency, target_currency in rows:
        out[break_key(kind, source, target)] = {
            "source_amount": source_amount,
            "target_amount": target_amount,
            "currency": currency.lower() if currency else None,
            "target_currency": target_currency.lower() if target_currency else None,
        }
    return out


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
