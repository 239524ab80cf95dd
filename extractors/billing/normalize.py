"""`normalize_record()`: one billing API object in, one validated `RawRecord` out (pure).

Contract:
- The payload is the Stripe object JSON as the API returned it (docs/INTERFACES.md section 3),
  with one unification: `currency` codes are lowercased (Stripe sends lowercase; a stand-in or
  proxy sending `USD` must not create a second version of the same object).
- Validation, each failure a `RecordError` naming fields, never values:
  the body is a JSON object; `id` is a non-empty string; `object` equals the expected type;
  `created` (`date` for invoice items) is an integer epoch where the object carries one; the
  object's `REQUIRED_FIELDS` (amount and currency of money objects) are present; amount
  fields are integers in minor units (a float amount would not be exact); a `currency`
  present is a 3-letter code.
- A deleted object (`{"id", "object", "deleted": true}`, as a retrieve answers, or a
  `*.deleted` event) becomes a tombstone: `is_deleted=True`, payload exactly
  `{"id", "object", "deleted": true}` (a different hash from any live version).
- `payout_balance_transaction` records get the object id `<payout id>:<txn id>`.
"""

from __future__ import annotations

import json
from typing import Any

from extractors.billing.objects import OBJECTS
from extractors.errors import RecordError
from q2c.landing import RawRecord

SOURCE = "billing"

#: Money fields Stripe sends as integers in minor units (the ones our models read).
AMOUNT_FIELDS: frozenset[str] = frozenset(
    {
        "amount",
        "amount_due",
        "amount_paid",
        "amount_remaining",
        "amount_captured",
        "amount_refunded",
        "amount_received",
        "amount_off",
        "amount_shipping",
        "unit_amount",
        "subtotal",
        "subtotal_excluding_tax",
        "total",
        "total_excluding_tax",
        "tax",
        "fee",
        "net",
        "balance",
        "starting_balance",
        "ending_balance",
        "discount_amount",
        "pre_payment_amount",
        "post_payment_amount",
    }
)

#: Stripe `object` values of children whose type differs from our table name.
_EXPECTED_OBJECT: dict[str, str] = {"payout_balance_transaction": "balance_transaction"}

#: Fields a record of each object must carry (a page served without them is broken upstream).
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    **{
        name: ("amount", "currency")
        for name in (
            "charge",
            "refund",
            "payment_intent",
            "dispute",
            "balance_transaction",
            "payout_balance_transaction",
            "payout",
            "transfer",
            "invoiceitem",
            "line_item",
            "credit_note",
        )
    },
    "invoice": ("amount_due", "total", "currency"),
    "price": ("currency",),
    "subscription": ("status", "customer"),
}


def _raw_text(raw: Any) -> str:
    try:
        return json.dumps(raw, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(raw)


def _refuse(object_name: str, reason: str, raw: Any) -> RecordError:
    return RecordError(reason, raw=_raw_text(raw), source=SOURCE, object_name=object_name)


def normalize_record(
    object_name: str,
    raw: Any,
    *,
    provider_ref: str | None = None,
    parent_id: str | None = None,
) -> RawRecord:
    """Validate one billing object and turn it into a `RawRecord`.

    Args:
        object_name: the table it lands in (`invoice`, `line_item`,
            `payout_balance_transaction`...).
        raw: the object as decoded from the API's JSON.
        provider_ref: where this version came from (event id, request id, parent id).
        parent_id: for `payout_balance_transaction`, the payout id (part of the object id).

    Returns:
        The record to land.

    Raises:
        RecordError: when the object fails validation (the caller quarantines it).
    """
    if not isinstance(raw, dict):
        raise _refuse(object_name, f"expected a JSON object, got {type(raw).__name__}", raw)
    object_id = raw.get("id")
    if not isinstance(object_id, str) or not object_id:
        raise _refuse(object_name, "missing or empty `id`", raw)
    expected = _EXPECTED_OBJECT.get(object_name, object_name)
    if raw.get("object") != expected:
        raise _refuse(object_name, f"`object` is {raw.get('object')!r}, expected {expected!r}", raw)
    if object_name == "payout_balance_transaction":
        if not parent_id:
            raise _refuse(object_name, "no payout id for a payout balance transaction", raw)
        object_id = f"{parent_id}:{object_id}"

    if raw.get("deleted") is True:
        return RawRecord(
            object_id,
            provider_ref,
            {"id": raw["id"], "object": raw["object"], "deleted": True},
            is_deleted=True,
        )

    spec = OBJECTS.get(object_name)
    if spec is None:
        raise _refuse(object_name, "unknown billing object type", raw)
    created = raw.get(spec.created_field)
    if (spec.requires_created or created is not None) and (
        isinstance(created, bool) or not isinstance(created, int)
    ):
        raise _refuse(object_name, f"missing or non-integer `{spec.created_field}`", raw)
    missing = [f for f in REQUIRED_FIELDS.get(object_name, ()) if f not in raw]
    if missing:
        raise _refuse(object_name, f"missing required field(s) {', '.join(missing)}", raw)
    for name in AMOUNT_FIELDS.intersection(raw):
        value = raw[name]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise _refuse(object_name, f"amount field `{name}` is not an integer", raw)
    payload = raw
    currency = raw.get("currency")
    if currency is not None:
        if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
            raise _refuse(object_name, "`currency` is not a 3-letter code", raw)
        if currency != currency.lower():
            payload = {**raw, "currency": currency.lower()}
    return RawRecord(object_id, provider_ref, payload)


def tombstone(object_name: str, object_id: str, provider_ref: str | None) -> RawRecord:
    """A deletion tombstone for `object_id`, in Stripe's deleted-object shape."""
    return RawRecord(
        object_id,
        provider_ref,
        {"id": object_id, "object": object_name, "deleted": True},
        is_deleted=True,
    )
