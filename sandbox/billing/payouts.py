"""Connect payouts as Stripe serves them to a platform acting on a connected account.

- `GET /v1/balance` with `Stripe-Account: acct_...`: the connected account's balance
  (`available` per currency: the transfers it received, less reversals, less the payouts
  already made from it; `pending` empty). Stripe: https://docs.stripe.com/api/balance.
- `POST /v1/payouts` with `Stripe-Account`: a payout of the connected account's available
  balance to its default external account (accounts on a manual payout schedule are paid out
  this way: https://docs.stripe.com/connect/manual-payouts). Parameters `amount`, `currency`
  (required), `description`, `metadata`, `method` (`standard`, `instant`),
  `statement_descriptor`. Refused as Stripe does: an account that does not exist or that the
  key may not act on (403 `account_invalid`), payouts disabled on it (400
  `payouts_not_allowed`), more than the available balance (400 `balance_insufficient`).
  The payout is stored like the world's partner payouts (`metadata.connected_account`), so
  the next extract lands it, and a `payout.created` event is appended.
- `write_journal`: every write the stand-in carried out or replayed (method, path,
  Stripe-Account, idempotency key, object id, replayed or not), served at
  `GET /__sandbox/writes` for tests to count what reached the API.

Idempotency keys are scoped by API key and connected account (`app.py`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from sandbox.billing.errors import StripeError, invalid_request, missing_parameter
from sandbox.billing.listing import parse_int
from sandbox.billing.writes import (
    WriteContext,
    _check_params,
    _event,
    _metadata,
    _put,
    _text,
    new_id,
)

DAY = 86_400
_METHODS = frozenset({"standard", "instant"})
_JOURNAL = """
CREATE TABLE IF NOT EXISTS write_journal(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, method TEXT NOT NULL,
  path TEXT NOT NULL, stripe_account TEXT, idempotency_key TEXT, object_id TEXT,
  replayed INTEGER NOT NULL)
"""


def ensure_tables(conn: sqlite3.Connection) -> None:
    conn.execute(_JOURNAL)


def journal(
    conn: sqlite3.Connection,
    *,
    at: int,
    method: str,
    path: str,
    stripe_account: str | None,
    idempotency_key: str | None,
    object_id: str | None,
    replayed: bool,
) -> None:
    conn.execute(
        "INSERT INTO write_journal(at, method, path, stripe_account, idempotency_key, object_id,"
        " replayed) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (at, method, path, stripe_account, idempotency_key, object_id, int(replayed)),
    )


def journal_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    cols = ("seq", "at", "method", "path", "stripe_account", "idempotency_key", "object_id")
    rows = conn.execute(f"SELECT {', '.join(cols)}, replayed FROM write_journal ORDER BY seq")
    return [{**dict(zip(cols, r[:-1], strict=True)), "replayed": bool(r[-1])} for r in rows]


def _account(conn: sqlite3.Connection, account_id: str | None) -> dict[str, Any]:
    if not account_id:
        raise invalid_request(
            "This stand-in serves balances and payouts of connected accounts only: send the "
            "Stripe-Account header.",
            param="Stripe-Account",
        )
    row = conn.execute(
        "SELECT body FROM objects WHERE object = 'account' AND id = ? AND deleted = 0",
        (account_id,),
    ).fetchone()
    if row is None:
        raise StripeError(
            403,
            "invalid_request_error",
            f"The provided key does not have access to account '{account_id}' (or that "
            "account does not exist). Application access may have been revoked.",
            code="account_invalid",
        )
    return orjson.loads(row[0])


def available(conn: sqlite3.Connection, account_id: str) -> dict[str, int]:
    """Available balance per currency: transfers in, less reversals, less payouts out."""
    out: dict[str, int] = {}
    for currency, amount in conn.execute(
        "SELECT json_extract(body, '$.currency'),"
        " SUM(json_extract(body, '$.amount') - COALESCE(json_extract(body, '$.amount_reversed'),"
        " 0)) FROM objects WHERE object = 'transfer' AND deleted = 0"
        " AND json_extract(body, '$.destination') = ? GROUP BY 1",
        (account_id,),
    ):
        out[currency] = out.get(currency, 0) + int(amount)
    for currency, amount in conn.execute(
        "SELECT json_extract(body, '$.currency'), SUM(json_extract(body, '$.amount'))"
        " FROM objects WHERE object = 'payout' AND deleted = 0"
        " AND json_extract(body, '$.metadata.connected_account') = ?"
        " AND COALESCE(status, '') NOT IN ('failed', 'canceled') GROUP BY 1",
        (account_id,),
    ):
        out[currency] = out.get(currency, 0) - int(amount)
    return out


def balance(conn: sqlite3.Connection, account_id: str | None) -> dict[str, Any]:
    _account(conn, account_id)
    return {
        "object": "balance",
        "available": [
            {"amount": amount, "currency": currency, "source_types": {"card": amount}}
            for currency, amount in sorted(available(conn, str(account_id)).items())
        ],
        "livemode": False,
        "pending": [],
    }


def create_payout(ctx: WriteContext, params: dict[str, Any]) -> dict[str, Any]:
    """`POST /v1/payouts` on the connected account named by `Stripe-Account`."""
    _check_params(
        params,
        {"amount", "currency", "description", "metadata", "method", "statement_descriptor"},
    )
    account = _account(ctx.conn, ctx.stripe_account)
    for name in ("amount", "currency"):
        if name not in params:
            raise missing_parameter(name)
    amount = parse_int(params["amount"], "amount")
    if amount is None or amount <= 0:
        raise invalid_request("Invalid positive integer", param="amount")
    currency = str(params["currency"]).lower()
    method = _text(params, "method") or "standard"
    if method not in _METHODS:
        raise invalid_request(f"Invalid method: must be one of {sorted(_METHODS)}", param="method")
    if not account.get("payouts_enabled"):
        raise StripeError(
            400,
            "invalid_request_error",
            "Payouts are not allowed on this account: its verification requirements are not "
            "complete (requirements.currently_due).",
            code="payouts_not_allowed",
        )
    left = available(ctx.conn, account["id"]).get(currency, 0)
    if amount > left:
        raise StripeError(
            400,
            "invalid_request_error",
            f"You have insufficient funds in your Stripe account for this transfer. Your "
            f"available {currency} balance is {left}.",
            code="balance_insufficient",
        )
    banks = ((account.get("external_accounts") or {}).get("data")) or []
    destination = next(
        (b["id"] for b in banks if b.get("currency") == currency and b.get("default_for_currency")),
        banks[0]["id"] if banks else None,
    )
    metadata = _metadata({}, params)
    metadata["connected_account"] = account["id"]
    payout = {
        "id": new_id("po_"),
        "object": "payout",
        "amount": amount,
        "arrival_date": ctx.now + 2 * DAY,
        "automatic": False,
        "balance_transaction": None,
        "created": ctx.now,
        "currency": currency,
        "description": _text(params, "description"),
        "destination": destination,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "livemode": False,
        "metadata": metadata,
        "method": method,
        "original_payout": None,
        "reconciliation_status": "not_applicable",
        "reversed_by": None,
        "source_type": "card",
        "statement_descriptor": _text(params, "statement_descriptor", max_len=22),
        "status": "pending",
        "type": "bank_account",
    }
    _put(ctx.conn, payout, created=ctx.now, status="pending")
    _event(ctx, "payout.created", payout)
    return payout
