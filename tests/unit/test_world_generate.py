"""The world generator writes every object type the stand-ins serve, at scale S."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from sandbox.world import generate
from sandbox.world.salesforce_schema import SOBJECTS

pytestmark = pytest.mark.unit

BILLING_OBJECTS = {
    "product",
    "price",
    "coupon",
    "customer",
    "subscription",
    "subscription_item",
    "invoice",
    "line_item",
    "invoiceitem",
    "credit_note",
    "payment_intent",
    "charge",
    "refund",
    "dispute",
    "balance_transaction",
    "payout",
    "account",
    "transfer",
    "event",
}
ERP_TABLES = {
    "subsidiary",
    "currency",
    "account",
    "accountingperiod",
    "customer",
    "transaction",
    "transactionline",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("world")
    generate(d, seed=7, scale="S")
    return d


def test_billing_has_every_object_type(world: Path) -> None:
    con = sqlite3.connect(world / "billing.sqlite")
    present = {r[0] for r in con.execute("SELECT DISTINCT object FROM objects")}
    assert present >= BILLING_OBJECTS


def test_salesforce_records_have_every_schema_field(world: Path) -> None:
    con = sqlite3.connect(world / "salesforce.sqlite")
    for sobject, fields in SOBJECTS.items():
        rows = con.execute("SELECT body FROM records WHERE sobject=? LIMIT 50", (sobject,))
        bodies = [json.loads(r[0]) for r in rows]
        assert bodies, sobject
        for body in bodies:
            assert set(body) == {f.name for f in fields}


def test_erp_tables_are_filled(world: Path) -> None:
    con = sqlite3.connect(world / "erp.sqlite")
    for table in ERP_TABLES:
        assert con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] > 0, table


def test_meta_carries_seed_scale_and_now_in_every_file(world: Path) -> None:
    for name in ("billing", "salesforce", "erp", "truth"):
        meta = dict(sqlite3.connect(world / f"{name}.sqlite").execute("SELECT * FROM meta"))
        assert meta["seed"] == "7" and meta["scale"] == "S"
        assert meta["now"] == "1793491200"


def _bodies(world: Path, obj: str) -> list[dict]:
    con = sqlite3.connect(world / "billing.sqlite")
    return [
        json.loads(b) for (b,) in con.execute("SELECT body FROM objects WHERE object=?", (obj,))
    ]


def test_billing_covers_every_lifecycle_the_issue_names(world: Path) -> None:
    subs = _bodies(world, "subscription")
    assert {s["status"] for s in subs} >= {"trialing", "active", "past_due", "canceled", "unpaid"}
    assert any(s["cancel_at_period_end"] for s in subs)
    invoices = _bodies(world, "invoice")
    assert {i["status"] for i in invoices} == {"draft", "open", "paid", "void", "uncollectible"}
    assert {i["currency"] for i in invoices} == {"usd", "eur", "gbp"}
    assert any(i["tax"] for i in invoices) and any(i["total_discount_amounts"] for i in invoices)
    lines = _bodies(world, "line_item")
    assert any(li["proration"] and li["amount"] < 0 for li in lines)
    assert any(li["proration"] and li["amount"] > 0 for li in lines)
    charges = _bodies(world, "charge")
    assert {c["failure_code"] for c in charges} >= {"card_declined", "insufficient_funds"}
    assert any(c["refunded"] for c in charges)  # full refunds
    assert any(0 < c["amount_refunded"] < c["amount"] for c in charges)  # partial ones
    assert any(c["disputed"] for c in charges)
    categories = {b["reporting_category"] for b in _bodies(world, "balance_transaction")}
    assert categories >= {"charge", "refund", "dispute", "transfer", "payout"}
    accounts = _bodies(world, "account")
    assert {a["payouts_enabled"] for a in accounts} == {True, False}


def test_salesforce_has_deletions_and_people_edits(world: Path) -> None:
    con = sqlite3.connect(world / "salesforce.sqlite")
    assert con.execute("SELECT count(*) FROM records WHERE is_deleted=1").fetchone()[0] > 0
    integration = con.execute(
        "SELECT id FROM records WHERE sobject='User' AND body LIKE '%integration@q2c.example%'"
    ).fetchone()[0]
    editors = {
        json.loads(b)["LastModifiedById"]
        for (b,) in con.execute("SELECT body FROM records WHERE sobject='Account'")
    }
    assert integration in editors and len(editors - {integration}) > 3


def test_bodies_are_the_same_bytes_as_the_standard_json_encoder_writes(world: Path) -> None:
    con = sqlite3.connect(world / "billing.sqlite")
    for (text,) in con.execute("SELECT body FROM objects ORDER BY id LIMIT 3000"):
        body = json.loads(text)
        assert text == json.dumps(body, separators=(",", ":"), ensure_ascii=False)
