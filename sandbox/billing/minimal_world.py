"""A small hand-written billing world with known ids and timestamps, for tests and demos.

`write_minimal_world(world_dir)` writes `billing.sqlite` in the layout of INTERFACES.md
section 1 with a few objects of every type, chosen to exercise the list semantics: ties in
`created` (broken by id), a deleted customer, subscriptions in every status, invoice lines,
balance transactions settled by a payout, events older and younger than 30 days with
delivery failures, a refundable, a fully refunded and a disputed charge. Bodies carry the
fields the stand-in reads and Stripe's required fields for the object types written to;
the full shapes come from `sandbox.world.generate`, whose output is what the spec is
checked against.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

NOW = 1_793_491_200  # 2026-11-01T00:00:00Z, the world generator's default clock
HOUR = 3_600
DAY = 86_400

_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE objects(
  object TEXT NOT NULL, id TEXT PRIMARY KEY, created INTEGER NOT NULL, parent TEXT,
  customer TEXT, payout TEXT, status TEXT, type TEXT, delivered INTEGER,
  deleted INTEGER NOT NULL DEFAULT 0, body TEXT NOT NULL);
CREATE INDEX objects_created ON objects(object, created DESC, id DESC);
CREATE INDEX objects_parent ON objects(object, parent);
CREATE INDEX objects_customer ON objects(object, customer);
CREATE INDEX objects_payout ON objects(object, payout);
"""


class _Rows:
    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []

    def add(
        self,
        body: dict[str, Any],
        *,
        parent: str | None = None,
        customer: str | None = None,
        payout: str | None = None,
        status: str | None = None,
        type_: str | None = None,
        delivered: int | None = None,
        deleted: int = 0,
        created: int | None = None,
    ) -> dict[str, Any]:
        created = body.get("created", created)
        assert created is not None
        self.rows.append(
            (
                body["object"],
                body["id"],
                created,
                parent,
                customer,
                payout,
                status,
                type_,
                delivered,
                deleted,
                json.dumps(body, separators=(",", ":")),
            )
        )
        return body


def _customer(i: int) -> dict[str, Any]:
    return {
        "id": f"cus_{i:04d}",
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": NOW - 40 * DAY + (i // 2) * HOUR,  # pairs share a second: ties by id
        "currency": "usd" if i % 3 else "eur",
        "delinquent": False,
        "description": None,
        "email": f"billing{i}@example.test",
        "invoice_prefix": f"P{i:04d}",
        "livemode": False,
        "metadata": {"salesforce_account_id": f"001{i:015d}"},
        "name": f"Customer {i}",
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
    }


def write_minimal_world(world_dir: Path) -> Path:
    """Write the minimal world's `billing.sqlite` into `world_dir` (created if missing).

    Returns:
        The path of `billing.sqlite`.
    """
    world_dir.mkdir(parents=True, exist_ok=True)
    path = world_dir / "billing.sqlite"
    if path.exists():
        path.unlink()
    r = _Rows()
    customers = [r.add(_customer(i), customer=None) for i in range(1, 26)]
    r.add(_customer(99), deleted=1)  # deleted: not listed, retrieve says deleted
    for n in range(1, 4):
        r.add(
            {
                "id": f"prod_{n}",
                "object": "product",
                "active": n != 3,
                "created": NOW - 400 * DAY + n,
                "name": f"Plan {n}",
                "livemode": False,
                "metadata": {},
            }
        )
        r.add(
            {
                "id": f"price_{n}",
                "object": "price",
                "active": True,
                "created": NOW - 400 * DAY + n,
                "currency": "usd",
                "product": f"prod_{n}",
                "type": "recurring",
                "unit_amount": 1000 * n,
                "livemode": False,
                "metadata": {},
            }
        )
    for n in range(1, 3):
        r.add(
            {
                "id": f"coupon_{n}",
                "object": "coupon",
                "created": NOW - 300 * DAY + n,
                "percent_off": 10.0 * n,
                "livemode": False,
            }
        )
    statuses = ["active", "past_due", "canceled", "trialing", "incomplete_expired", "canceled"]
    for n, status in enumerate(statuses, start=1):
        cus = customers[n]["id"]
        sub_id = f"sub_{n}"
        items = []
        for k in range(1, 3 if n == 1 else 2):
            item = {
                "id": f"si_{n}_{k}",
                "object": "subscription_item",
                "created": NOW - 200 * DAY + n,
                "price": {"id": f"price_{k}", "object": "price"},
                "quantity": k,
                "subscription": sub_id,
            }
            r.add(item, parent=sub_id)
            items.append(item)
        r.add(
            {
                "id": sub_id,
                "object": "subscription",
                "created": NOW - 200 * DAY + n,
                "customer": cus,
                "status": status,
                "collection_method": "charge_automatically",
                "items": {
                    "object": "list",
                    "data": items,
                    "has_more": False,
                    "url": f"/v1/subscription_items?subscription={sub_id}",
                },
                "livemode": False,
                "metadata": {},
            },
            customer=cus,
            status=status,
        )
    for n, status in enumerate(["paid", "open", "draft", "void"], start=1):
        cus = customers[n]["id"]
        inv = f"in_{n}"
        lines = []
        for k in range(1, 4):
            line = {
                "id": f"il_{n}_{k}",
                "object": "line_item",
                "amount": 1000 * k,
                "currency": "usd",
                "invoice": inv,
                "livemode": False,
            }
            r.add(line, parent=inv, created=NOW - 100 * DAY + n)
            lines.append(line)
        r.add(
            {
                "id": inv,
                "object": "invoice",
                "created": NOW - 100 * DAY + n,
                "customer": cus,
                "status": status,
                "currency": "usd",
                "total": 6000,
                "subscription": "sub_1" if n == 1 else None,
                "lines": {
                    "object": "list",
                    "data": lines,
                    "has_more": False,
                    "url": f"/v1/invoices/{inv}/lines",
                },
                "livemode": False,
            },
            customer=cus,
            status=status,
        )
    r.add(
        {
            "id": "ii_pending",
            "object": "invoiceitem",
            "amount": 500,
            "currency": "usd",
            "customer": "cus_0003",
            "date": NOW - 2 * DAY,
            "invoice": None,
            "livemode": False,
        },
        customer="cus_0003",
        created=NOW - 2 * DAY,
    )
    r.add(
        {
            "id": "cn_1",
            "object": "credit_note",
            "created": NOW - 50 * DAY,
            "customer": "cus_0001",
            "invoice": "in_1",
            "amount": 1000,
            "currency": "usd",
            "livemode": False,
        },
        customer="cus_0001",
    )
    # charges: ch_ok refundable, ch_done fully refunded, ch_disp disputed, ch_1..9 plain
    charge_specs = [("ch_ok", 5000, 0, False), ("ch_done", 3000, 3000, False)]
    charge_specs += [("ch_disp", 4000, 0, True)]
    charge_specs += [(f"ch_{k}", 1000 * k, 0, False) for k in range(1, 10)]
    for k, (ch, amount, refunded, disputed) in enumerate(charge_specs):
        cus = customers[k % 5]["id"]
        created = NOW - 20 * DAY + k * HOUR
        pi = f"pi_{ch[3:]}"
        r.add(
            {
                "id": pi,
                "object": "payment_intent",
                "amount": amount,
                "created": created,
                "currency": "usd",
                "customer": cus,
                "latest_charge": ch,
                "status": "succeeded",
                "livemode": False,
            },
            customer=cus,
            status="succeeded",
        )
        r.add(
            {
                "id": ch,
                "object": "charge",
                "amount": amount,
                "amount_captured": amount,
                "amount_refunded": refunded,
                "balance_transaction": f"txn_{ch}",
                "captured": True,
                "created": created,
                "currency": "usd",
                "customer": cus,
                "disputed": disputed,
                "livemode": False,
                "metadata": {},
                "paid": True,
                "payment_intent": pi,
                "refunded": refunded == amount,
                "status": "succeeded",
            },
            customer=cus,
            status="succeeded",
        )
        r.add(
            {
                "id": f"txn_{ch}",
                "object": "balance_transaction",
                "amount": amount,
                "available_on": created + 2 * DAY,
                "created": created,
                "currency": "usd",
                "fee": 30 + amount * 29 // 1000,
                "fee_details": [],
                "net": amount - (30 + amount * 29 // 1000),
                "reporting_category": "charge",
                "source": ch,
                "status": "available",
                "type": "charge",
            },
            payout="po_1" if k < 10 else None,
            type_="charge",
        )
    r.add(
        {
            "id": "re_done",
            "object": "refund",
            "amount": 3000,
            "charge": "ch_done",
            "created": NOW - 10 * DAY,
            "currency": "usd",
            "status": "succeeded",
        },
        status="succeeded",
    )
    r.add(
        {
            "id": "dp_1",
            "object": "dispute",
            "amount": 4000,
            "charge": "ch_disp",
            "created": NOW - 9 * DAY,
            "currency": "usd",
            "status": "needs_response",
            "livemode": False,
        },
        status="needs_response",
    )
    for n in (1, 2):
        r.add(
            {
                "id": f"po_{n}",
                "object": "payout",
                "amount": 10_000 * n,
                "arrival_date": NOW - (10 - n) * DAY,
                "created": NOW - (12 - n) * DAY,
                "currency": "usd",
                "status": "paid",
                "livemode": False,
            },
            status="paid",
        )
        r.add(
            {
                "id": f"txn_po_{n}",
                "object": "balance_transaction",
                "amount": -10_000 * n,
                "available_on": NOW - (12 - n) * DAY,
                "created": NOW - (12 - n) * DAY,
                "currency": "usd",
                "fee": 0,
                "fee_details": [],
                "net": -10_000 * n,
                "reporting_category": "payout",
                "source": f"po_{n}",
                "status": "available",
                "type": "payout",
            },
            type_="payout",
        )
        r.add(
            {
                "id": f"acct_{n}",
                "object": "account",
                "created": NOW - 500 * DAY + n,
                "type": "express",
            }
        )
        r.add(
            {
                "id": f"tr_{n}",
                "object": "transfer",
                "amount": 2000 * n,
                "created": NOW - 15 * DAY + n,
                "currency": "usd",
                "destination": f"acct_{n}",
                "livemode": False,
            }
        )
    kinds = ["customer.created", "invoice.paid", "charge.succeeded", "invoice.payment_failed"]
    for n in range(40):
        event_type = kinds[n % 4]
        r.add(
            {
                "id": f"evt_{n:03d}",
                "object": "event",
                "api_version": "2023-08-16",
                "created": NOW - (39 - n) * DAY + 60,  # evt_000 is 39 days old
                "data": {"object": {"id": f"obj_{n}", "object": event_type.split(".")[0]}},
                "livemode": False,
                "pending_webhooks": 0 if n % 5 else 1,
                "request": {"id": None, "idempotency_key": None},
                "type": event_type,
            },
            type_=event_type,
            delivered=0 if n % 5 == 0 else 1,
        )
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.executescript(_SCHEMA)
        con.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [("seed", "0"), ("scale", "minimal"), ("now", str(NOW))],
        )
        con.executemany("INSERT INTO objects VALUES (?,?,?,?,?,?,?,?,?,?,?)", r.rows)
    finally:
        con.close()
    return path
