"""Builders of Stripe-shaped bodies (API version 2023-08-16) shared by generation and advance.

Each function returns the object exactly as the API returns it unexpanded: ids for related
objects, `livemode: false`, nullable fields present as null.
"""

from __future__ import annotations

import random
from typing import Any

from sandbox.world.config import API_VERSION, DAY
from sandbox.world.ids import B62, stripe_id


def list_of(data: list[dict[str, Any]], url: str) -> dict[str, Any]:
    """An embedded list object."""
    return {"object": "list", "data": data, "has_more": False, "total_count": len(data), "url": url}


def balance_transaction(
    rng: random.Random,
    *,
    amount: int,
    fee: int,
    currency: str,
    created: int,
    source: str,
    type_: str,
    category: str,
    description: str | None,
    available_on: int,
    now: int,
    txn_id: str | None = None,
) -> dict[str, Any]:
    """A balance transaction; `status` follows from `available_on` against the world's now."""
    return {
        "id": txn_id or stripe_id(rng, "txn"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": available_on,
        "created": created,
        "currency": currency,
        "description": description,
        "exchange_rate": None,
        "fee": fee,
        "fee_details": [
            {
                "amount": fee,
                "application": None,
                "currency": currency,
                "description": "Stripe processing fees",
                "type": "stripe_fee",
            }
        ]
        if fee
        else [],
        "net": amount - fee,
        "reporting_category": category,
        "source": source,
        "status": "available" if available_on <= now else "pending",
        "type": type_,
    }


def available_on(created: int) -> int:
    """When a card payment's funds become available: midnight UTC two days later."""
    return (created // DAY + 2) * DAY


def event(
    rng: random.Random,
    type_: str,
    obj: dict[str, Any],
    created: int,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An event carrying `obj` as the object's state at `created`."""
    data: dict[str, Any] = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return {
        "id": stripe_id(rng, "evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": 0,
        "request": {"id": "req_" + "".join(rng.choices(B62, k=14)), "idempotency_key": None},
        "type": type_,
    }


DECLINES = (
    ("card_declined", "generic_decline", "Your card was declined."),
    ("insufficient_funds", "insufficient_funds", "Your card has insufficient funds."),
    ("expired_card", "expired_card", "Your card has expired."),
)


def outcome(rng: random.Random, decline: tuple[str, str, str] | None) -> dict[str, Any]:
    """A charge's `outcome`: authorized, or declined by the issuer."""
    if decline is None:
        return {
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": rng.randint(2, 60),
            "seller_message": "Payment complete.",
            "type": "authorized",
        }
    return {
        "network_status": "declined_by_network",
        "reason": decline[1],
        "risk_level": "normal",
        "risk_score": rng.randint(2, 60),
        "seller_message": "The bank did not return any further details with this decline.",
        "type": "issuer_declined",
    }


def card_details(card: dict[str, Any]) -> dict[str, Any]:
    """`payment_method_details` of a card payment."""
    return {
        "card": {
            "brand": card["brand"],
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": "pass",
            },
            "country": card["country"],
            "exp_month": card["exp_month"],
            "exp_year": card["exp_year"],
            "fingerprint": card["fingerprint"],
            "funding": "credit",
            "last4": card["last4"],
            "network": card["brand"],
            "wallet": None,
        },
        "type": "card",
    }


def refund(
    refund_id: str,
    amount: int,
    balance_transaction: str,
    charge: str,
    created: int,
    currency: str,
    payment_intent: str | None,
) -> dict[str, Any]:
    """A succeeded refund a customer asked for, as `GET /v1/refunds/{id}` returns it."""
    return {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": balance_transaction,
        "charge": charge,
        "created": created,
        "currency": currency,
        "metadata": {},
        "payment_intent": payment_intent,
        "reason": "requested_by_customer",
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }
