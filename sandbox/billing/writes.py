"""Writes: create and update customers, invoice items and refunds, as Stripe does them.

Each write runs inside the caller's SQLite transaction, changes `objects`, and appends the
events Stripe would emit (`customer.created`, `customer.updated`, `customer.deleted`,
`invoiceitem.created|updated|deleted`, `refund.created|updated`, `charge.refunded`), each
carrying the object's new state and, for updates, `previous_attributes`. Timestamps are
the world's clock (`meta.now`). A refund also adds its `balance_transaction` (type
`refund`, negative amount, pending, no payout yet) and raises the charge's
`amount_refunded`. Amounts are integers in minor units; a refund may not exceed what is
left of the charge.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from sandbox.billing.errors import (
    invalid_request,
    missing_parameter,
    resource_missing,
    unknown_parameter,
)
from sandbox.billing.listing import parse_bool, parse_int

_ALPHABET = string.ascii_letters + string.digits
_CURRENCY = re.compile(r"^[a-z]{3}$")
_MAX_METADATA_KEYS = 50
_DEFAULT_API_VERSION = "2023-08-16"
_REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})
_TAX_EXEMPT = frozenset({"none", "exempt", "reverse"})
_ADDRESS_FIELDS = ("city", "country", "line1", "line2", "postal_code", "state")


def new_id(prefix: str, length: int = 24) -> str:
    """A fresh Stripe-style id (`cus_` + 14 characters, others + 24)."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


@dataclass
class WriteContext:
    """What a write needs beyond its parameters."""

    conn: sqlite3.Connection
    now: int
    request_id: str
    idempotency_key: str | None
    api_version: str | None
    #: the connected account a platform acts on (`Stripe-Account` header), if any
    stripe_account: str | None = None


def _check_params(params: dict[str, Any], allowed: set[str]) -> None:
    for name in params:
        if name not in allowed and name != "expand":
            raise unknown_parameter(name)


def _text(params: dict[str, Any], name: str, *, max_len: int = 5000) -> str | None:
    if name not in params:
        return None
    value = params[name]
    if not isinstance(value, str):
        raise invalid_request(f"Invalid string: {name} must be a string.", param=name)
    if len(value) > max_len:
        raise invalid_request(
            f"Invalid string: {name} must be at most {max_len} characters.", param=name
        )
    return value


def _nullable_text(params: dict[str, Any], name: str) -> str | None:
    # Stripe clears a field given as the empty string
    value = _text(params, name)
    return None if value == "" else value


def _metadata(current: dict[str, str], params: dict[str, Any]) -> dict[str, str]:
    if "metadata" not in params:
        return current
    raw = params["metadata"]
    if raw == "":
        return {}
    if not isinstance(raw, dict):
        raise invalid_request("Invalid hash: metadata must be a hash.", param="metadata")
    out = dict(current)
    for key, value in raw.items():
        if not isinstance(value, str):
            raise invalid_request("Invalid metadata value.", param=f"metadata[{key}]")
        if len(key) > 40:
            raise invalid_request(
                "Metadata keys can be at most 40 characters.", param=f"metadata[{key}]"
            )
        if len(value) > 500:
            raise invalid_request(
                "Metadata values can be at most 500 characters.", param=f"metadata[{key}]"
            )
        if value == "":
            out.pop(key, None)
        else:
            out[key] = value
    if len(out) > _MAX_METADATA_KEYS:
        raise invalid_request(
            f"Metadata can have at most {_MAX_METADATA_KEYS} keys.", param="metadata"
        )
    return out


def _address(params: dict[str, Any]) -> dict[str, Any] | None:
    raw = params["address"]
    if raw == "":
        return None
    if not isinstance(raw, dict):
        raise invalid_request("Invalid hash: address must be a hash.", param="address")
    for key in raw:
        if key not in _ADDRESS_FIELDS:
            raise unknown_parameter(f"address[{key}]")
    return {k: (raw.get(k) or None) for k in _ADDRESS_FIELDS}


def _load(conn: sqlite3.Connection, object_id: str) -> tuple[str, bool, dict[str, Any]] | None:
    row = conn.execute(
        "SELECT object, deleted, body FROM objects WHERE id = ?", (object_id,)
    ).fetchone()
    return None if row is None else (row[0], bool(row[1]), orjson.loads(row[2]))


def _require(
    conn: sqlite3.Connection, object_type: str, kind: str, object_id: Any, param: str, status: int
) -> dict[str, Any]:
    if not isinstance(object_id, str):
        raise invalid_request(f"Invalid string: {param} must be a string.", param=param)
    found = _load(conn, object_id)
    if found is None or found[0] != object_type or found[1]:
        err = resource_missing(kind, object_id, param=param)
        err.status = status
        raise err
    return found[2]


def _put(
    conn: sqlite3.Connection,
    obj: dict[str, Any],
    *,
    created: int,
    customer: str | None = None,
    parent: str | None = None,
    payout: str | None = None,
    status: str | None = None,
    type_: str | None = None,
) -> None:
    conn.execute(
        "INSERT INTO objects(object, id, created, parent, customer, payout, status, type, "
        "delivered, deleted, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, 0, ?) "
        "ON CONFLICT(id) DO UPDATE SET status = excluded.status, body = excluded.body",
        (
            obj["object"],
            obj["id"],
            created,
            parent,
            customer,
            payout,
            status,
            type_,
            orjson.dumps(obj).decode(),
        ),
    )


def _event(
    ctx: WriteContext,
    event_type: str,
    obj: dict[str, Any],
    previous: dict[str, Any] | None = None,
) -> None:
    data: dict[str, Any] = {"object": obj}
    if previous:
        data["previous_attributes"] = previous
    event = {
        "id": new_id("evt_"),
        "object": "event",
        "api_version": ctx.api_version or _DEFAULT_API_VERSION,
        "created": ctx.now,
        "data": data,
        "livemode": False,
        "pending_webhooks": 0,
        "request": {"id": ctx.request_id, "idempotency_key": ctx.idempotency_key},
        "type": event_type,
    }
    ctx.conn.execute(
        "INSERT INTO objects(object, id, created, parent, customer, payout, status, type, "
        "delivered, deleted, body) VALUES ('event', ?, ?, NULL, ?, NULL, NULL, ?, 1, 0, ?)",
        (
            event["id"],
            ctx.now,
            obj.get("customer") if isinstance(obj.get("customer"), str) else None,
            event_type,
            orjson.dumps(event).decode(),
        ),
    )


def _previous(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {k: before.get(k) for k in after if before.get(k) != after[k]}


# --- customers -------------------------------------------------------------------------

_CUSTOMER_PARAMS = {
    "address",
    "balance",
    "description",
    "email",
    "metadata",
    "name",
    "phone",
    "preferred_locales",
    "tax_exempt",
}


def _apply_customer(obj: dict[str, Any], params: dict[str, Any]) -> None:
    for name in ("description", "email", "name", "phone"):
        if name in params:
            obj[name] = _nullable_text(params, name)
    if "address" in params:
        obj["address"] = _address(params)
    if "balance" in params:
        obj["balance"] = parse_int(params["balance"], "balance")
    if "tax_exempt" in params:
        value = _text(params, "tax_exempt")
        if value not in _TAX_EXEMPT:
            raise invalid_request(f"Invalid tax_exempt: {value}", param="tax_exempt")
        obj["tax_exempt"] = value
    if "preferred_locales" in params:
        locales = params["preferred_locales"]
        if locales == "":
            locales = []
        if not isinstance(locales, list) or not all(isinstance(v, str) for v in locales):
            raise invalid_request("Invalid array: preferred_locales.", param="preferred_locales")
        obj["preferred_locales"] = locales
    obj["metadata"] = _metadata(obj.get("metadata") or {}, params)


def create_customer(ctx: WriteContext, params: dict[str, Any]) -> dict[str, Any]:
    """`POST /v1/customers`."""
    _check_params(params, _CUSTOMER_PARAMS)
    obj: dict[str, Any] = {
        "id": new_id("cus_", 14),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": ctx.now,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": None,
        "invoice_prefix": new_id("", 8).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {},
        "name": None,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }
    _apply_customer(obj, params)
    _put(ctx.conn, obj, created=ctx.now)
    _event(ctx, "customer.created", obj)
    return obj


def update_customer(ctx: WriteContext, object_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """`POST /v1/customers/{id}`."""
    _check_params(params, _CUSTOMER_PARAMS)
    before = _require(ctx.conn, "customer", "customer", object_id, "id", 404)
    obj = orjson.loads(orjson.dumps(before))
    _apply_customer(obj, params)
    _put(ctx.conn, obj, created=int(obj["created"]))
    previous = _previous(before, obj)
    if previous:
        _event(ctx, "customer.updated", obj, previous)
    return obj


def _delete(ctx: WriteContext, object_type: str, kind: str, object_id: str) -> dict[str, Any]:
    obj = _require(ctx.conn, object_type, kind, object_id, "id", 404)
    ctx.conn.execute("UPDATE objects SET deleted = 1 WHERE id = ?", (object_id,))
    _event(ctx, f"{object_type}.deleted", obj)
    return {"id": object_id, "object": object_type, "deleted": True}


def delete_customer(ctx: WriteContext, object_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """`DELETE /v1/customers/{id}`."""
    _check_params(params, set())
    return _delete(ctx, "customer", "customer", object_id)


# --- invoice items ---------------------------------------------------------------------

_INVOICEITEM_CREATE = {
    "amount",
    "currency",
    "customer",
    "description",
    "discountable",
    "metadata",
    "period",
    "quantity",
    "unit_amount",
}
_INVOICEITEM_UPDATE = _INVOICEITEM_CREATE - {"customer", "currency"}


def _apply_invoiceitem(obj: dict[str, Any], params: dict[str, Any]) -> None:
    if "amount" in params and "unit_amount" in params:
        raise invalid_request(
            "You may only specify one of these parameters: amount, unit_amount.",
            param="unit_amount",
        )
    quantity = obj.get("quantity", 1)
    if "quantity" in params:
        quantity = parse_int(params["quantity"], "quantity")
        if quantity < 0:
            raise invalid_request("Invalid quantity: must be at least 0.", param="quantity")
    unit_amount = obj.get("unit_amount")
    if "unit_amount" in params:
        unit_amount = parse_int(params["unit_amount"], "unit_amount")
    if "amount" in params:
        amount = parse_int(params["amount"], "amount")
        # Stripe: an amount with a quantity is refused; a bare amount is one unit of it
        if "quantity" in params and quantity != 1:
            raise invalid_request(
                "When passing `amount`, `quantity` must be 1 or left out.", param="quantity"
            )
        quantity, unit_amount = 1, amount
    if unit_amount is None:
        raise missing_parameter("amount")
    obj["quantity"] = quantity
    obj["unit_amount"] = unit_amount
    obj["unit_amount_decimal"] = str(unit_amount)
    obj["amount"] = unit_amount * quantity
    if "description" in params:
        obj["description"] = _nullable_text(params, "description")
    if "discountable" in params:
        obj["discountable"] = parse_bool(params["discountable"], "discountable")
    if "period" in params:
        period = params["period"]
        if not isinstance(period, dict) or set(period) != {"start", "end"}:
            raise invalid_request("Invalid hash: period needs start and end.", param="period")
        start = parse_int(period["start"], "period[start]")
        end = parse_int(period["end"], "period[end]")
        if end < start:
            raise invalid_request("period[end] must not be before period[start].", param="period")
        obj["period"] = {"start": start, "end": end}
    obj["metadata"] = _metadata(obj.get("metadata") or {}, params)


def create_invoiceitem(ctx: WriteContext, params: dict[str, Any]) -> dict[str, Any]:
    """`POST /v1/invoiceitems`: a pending item for the customer's next invoice."""
    _check_params(params, _INVOICEITEM_CREATE)
    if "customer" not in params:
        raise missing_parameter("customer")
    if "currency" not in params:
        raise missing_parameter("currency")
    customer = _require(ctx.conn, "customer", "customer", params["customer"], "customer", 400)
    currency = _text(params, "currency") or ""
    currency = currency.lower()
    if not _CURRENCY.match(currency):
        raise invalid_request(f"Invalid currency: {currency}", param="currency")
    if customer.get("currency") and customer["currency"] != currency:
        raise invalid_request(
            f"The currency {currency} does not match the customer's currency "
            f"{customer['currency']}.",
            param="currency",
        )
    obj: dict[str, Any] = {
        "id": new_id("ii_"),
        "object": "invoiceitem",
        "amount": 0,
        "currency": currency,
        "customer": customer["id"],
        "date": ctx.now,
        "description": None,
        "discountable": True,
        "discounts": [],
        "invoice": None,
        "livemode": False,
        "metadata": {},
        "period": {"start": ctx.now, "end": ctx.now},
        "price": None,
        "proration": False,
        "quantity": 1,
        "subscription": None,
        "tax_rates": [],
        "test_clock": None,
        "unit_amount": None,
        "unit_amount_decimal": None,
    }
    _apply_invoiceitem(obj, params)
    _put(ctx.conn, obj, created=ctx.now, customer=customer["id"])
    _event(ctx, "invoiceitem.created", obj)
    return obj


def _pending_item(ctx: WriteContext, object_id: str) -> dict[str, Any]:
    obj = _require(ctx.conn, "invoiceitem", "invoiceitem", object_id, "id", 404)
    invoice_id = obj.get("invoice")
    if invoice_id:
        invoice = _load(ctx.conn, invoice_id)
        if invoice is not None and invoice[2].get("status") != "draft":
            raise invalid_request(
                f"Invoice item {object_id} belongs to invoice {invoice_id}, which is no longer "
                "a draft, and cannot be changed.",
                param="id",
            )
    return obj


def update_invoiceitem(ctx: WriteContext, object_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """`POST /v1/invoiceitems/{id}` (pending or draft-invoice items only)."""
    _check_params(params, _INVOICEITEM_UPDATE)
    before = _pending_item(ctx, object_id)
    obj = orjson.loads(orjson.dumps(before))
    _apply_invoiceitem(obj, params)
    _put(ctx.conn, obj, created=int(obj["date"]), customer=obj["customer"])
    previous = _previous(before, obj)
    if previous:
        _event(ctx, "invoiceitem.updated", obj, previous)
    return obj


def delete_invoiceitem(ctx: WriteContext, object_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """`DELETE /v1/invoiceitems/{id}` (pending or draft-invoice items only)."""
    _check_params(params, set())
    _pending_item(ctx, object_id)
    return _delete(ctx, "invoiceitem", "invoiceitem", object_id)


# --- refunds ---------------------------------------------------------------------------

_REFUND_CREATE = {"amount", "charge", "metadata", "payment_intent", "reason"}


def _charge_for(ctx: WriteContext, params: dict[str, Any]) -> dict[str, Any]:
    if "charge" in params:
        return _require(ctx.conn, "charge", "charge", params["charge"], "charge", 400)
    if "payment_intent" not in params:
        raise missing_parameter("charge")
    intent = _require(
        ctx.conn,
        "payment_intent",
        "payment_intent",
        params["payment_intent"],
        "payment_intent",
        400,
    )
    charge_id = intent.get("latest_charge")
    if not isinstance(charge_id, str):
        raise invalid_request(
            f"PaymentIntent {intent['id']} has no successful charge to refund.",
            param="payment_intent",
        )
    return _require(ctx.conn, "charge", "charge", charge_id, "payment_intent", 400)


def create_refund(ctx: WriteContext, params: dict[str, Any]) -> dict[str, Any]:
    """`POST /v1/refunds`: refund all or part of what is left of a charge."""
    _check_params(params, _REFUND_CREATE)
    charge = _charge_for(ctx, params)
    captured = int(charge.get("amount_captured", charge["amount"]))
    refunded = int(charge.get("amount_refunded", 0))
    if charge.get("status") != "succeeded" or not charge.get("paid", True):
        raise invalid_request(
            f"Charge {charge['id']} has not succeeded and cannot be refunded.", param="charge"
        )
    if charge.get("disputed"):
        raise invalid_request(
            f"Charge {charge['id']} has been charged back; it cannot be refunded.",
            param="charge",
            code="charge_disputed",
        )
    remaining = captured - refunded
    if remaining <= 0:
        raise invalid_request(
            f"Charge {charge['id']} has already been refunded.",
            param="charge",
            code="charge_already_refunded",
        )
    amount = remaining
    if "amount" in params:
        amount = parse_int(params["amount"], "amount")
        if amount <= 0:
            raise invalid_request("Invalid amount: must be positive.", param="amount")
        if amount > remaining:
            raise invalid_request(
                f"Refund amount ({amount} {charge['currency']}) is greater than the unrefunded "
                f"amount on charge {charge['id']} ({remaining} {charge['currency']}).",
                param="amount",
                code="amount_too_large",
            )
    reason = _text(params, "reason")
    if reason is not None and reason not in _REFUND_REASONS:
        raise invalid_request(f"Invalid reason: {reason}", param="reason")
    customer = charge.get("customer") if isinstance(charge.get("customer"), str) else None
    refund_id = new_id("re_")
    txn: dict[str, Any] = {
        "id": new_id("txn_"),
        "object": "balance_transaction",
        "amount": -amount,
        "available_on": ctx.now,
        "created": ctx.now,
        "currency": charge["currency"],
        "description": f"REFUND FOR CHARGE ({charge['id']})",
        "exchange_rate": None,
        "fee": 0,
        "fee_details": [],
        "net": -amount,
        "reporting_category": "refund",
        "source": refund_id,
        "status": "pending",
        "type": "refund",
    }
    refund: dict[str, Any] = {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": txn["id"],
        "charge": charge["id"],
        "created": ctx.now,
        "currency": charge["currency"],
        "metadata": _metadata({}, params),
        "payment_intent": charge.get("payment_intent"),
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }
    before = orjson.loads(orjson.dumps(charge))
    charge["amount_refunded"] = refunded + amount
    charge["refunded"] = charge["amount_refunded"] >= captured
    refunds = charge.get("refunds")
    if isinstance(refunds, dict) and isinstance(refunds.get("data"), list):
        refunds["data"].insert(0, refund)
        if isinstance(refunds.get("total_count"), int):
            refunds["total_count"] += 1
    _put(ctx.conn, txn, created=ctx.now, type_="refund", status="pending")
    _put(ctx.conn, refund, created=ctx.now, customer=customer, status="succeeded")
    row = ctx.conn.execute(
        "SELECT created, customer, status FROM objects WHERE id = ?", (charge["id"],)
    ).fetchone()
    _put(ctx.conn, charge, created=int(row[0]), customer=row[1], status=row[2])
    _event(ctx, "charge.refunded", charge, _previous(before, charge))
    _event(ctx, "refund.created", refund)
    return refund


def update_refund(ctx: WriteContext, object_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """`POST /v1/refunds/{id}`: only `metadata` can change."""
    _check_params(params, {"metadata"})
    before = _require(ctx.conn, "refund", "refund", object_id, "id", 404)
    obj = orjson.loads(orjson.dumps(before))
    obj["metadata"] = _metadata(obj.get("metadata") or {}, params)
    row = ctx.conn.execute(
        "SELECT created, customer, status FROM objects WHERE id = ?", (object_id,)
    ).fetchone()
    _put(ctx.conn, obj, created=int(row[0]), customer=row[1], status=row[2])
    previous = _previous(before, obj)
    if previous:
        _event(ctx, "refund.updated", obj, previous)
    return obj


WriteFn = Callable[..., dict[str, Any]]
