"""Every reference in a generated world resolves, except exactly the injected discrepancies,
each of which is present as the ground truth says."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from stdnum.eu import vat as eu_vat

from sandbox.world import advance, generate
from tests.unit.test_world_advance import copy_world

pytestmark = pytest.mark.unit

KINDS = {
    "erp_invoice_missing",
    "erp_amount_mismatch",
    "erp_currency_mismatch",
    "erp_wrong_period",
    "erp_duplicate_posting",
    "erp_payment_unapplied",
    "erp_refund_missing",
    "payout_sum_mismatch",
    "payout_not_posted",
    "crm_billing_status_stale",
    "deal_without_subscription",
    "subscription_without_deal",
    "customer_without_account",
    "customer_linked_to_deleted_account",
    "event_duplicate",
    "event_out_of_order",
    "event_late",
    "case_dunning_without_priority",
    "payout_to_unverified_account",
    "invalid_eu_vat",
}


class World:
    """All rows of a small world, indexed for the checks."""

    def __init__(self, d: Path) -> None:
        b = sqlite3.connect(d / "billing.sqlite")
        self.rows = {
            r[0]: r
            for r in b.execute(
                "SELECT id, object, created, parent, customer, payout, status, type, delivered,"
                " body FROM objects"
            )
        }
        self.by_type: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        self.children: dict[str, list[str]] = defaultdict(list)
        for oid, r in self.rows.items():
            self.by_type[r[1]][oid] = json.loads(r[9])
            if r[3]:
                self.children[r[3]].append(oid)
        s = sqlite3.connect(d / "salesforce.sqlite")
        self.sf: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for sobject, rid, body in s.execute("SELECT sobject, id, body FROM records"):
            self.sf[sobject][rid] = json.loads(body)
        e = sqlite3.connect(d / "erp.sqlite")
        e.row_factory = sqlite3.Row
        self.erp = {
            t: [dict(r) for r in e.execute(f'SELECT * FROM "{t}"')]
            for t in (
                "customer",
                "transaction",
                "transactionline",
                "previoustransactionlinelink",
                "accountingperiod",
                "currency",
            )
        }
        t = sqlite3.connect(d / "truth.sqlite")
        self.truth: dict[str, list[tuple[dict, dict]]] = defaultdict(list)
        for kind, ids, detail in t.execute("SELECT kind, object_ids, detail FROM discrepancies"):
            self.truth[kind].append((json.loads(ids), json.loads(detail)))
        self.now = int(dict(t.execute("SELECT * FROM meta"))["now"])

    def ids(self, kind: str, key: str) -> set:
        return {ids[key] for ids, _ in self.truth[kind]}


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, World]:
    d = tmp_path_factory.mktemp("world")
    generate(d / "generated", seed=7, scale="S")
    copy_world(d / "generated", d / "advanced")
    advance(d / "advanced", 3)
    return {"generated": World(d / "generated"), "advanced": World(d / "advanced")}


@pytest.fixture
def w(worlds: dict[str, World]) -> World:
    """The world as generated."""
    return worlds["generated"]


@pytest.fixture(params=["generated", "advanced"])
def any_w(worlds: dict[str, World], request: pytest.FixtureRequest) -> World:
    """The world as generated, and after three advanced days."""
    return worlds[request.param]


def test_every_discrepancy_kind_is_injected(w: World) -> None:
    assert set(w.truth) == KINDS


def test_billing_references_resolve(any_w: World) -> None:
    w = any_w
    o = w.by_type
    for inv in o["invoice"].values():
        assert inv["customer"] in o["customer"]
        if inv["subscription"]:
            assert inv["subscription"] in o["subscription"]
        assert {li["id"] for li in inv["lines"]["data"]} == {
            i for i in w.children[inv["id"]] if w.rows[i][1] == "line_item"
        }
        if inv["payment_intent"]:
            assert o["payment_intent"][inv["payment_intent"]]["invoice"] == inv["id"]
    for li in o["line_item"].values():
        assert w.rows[li["id"]][3] in o["invoice"]
    for ch in o["charge"].values():
        assert ch["invoice"] in o["invoice"] and ch["payment_intent"] in o["payment_intent"]
        assert ch["customer"] in o["customer"]
        if ch["paid"]:
            assert o["balance_transaction"][ch["balance_transaction"]]["source"] == ch["id"]
        else:
            assert ch["balance_transaction"] is None and ch["failure_code"]
    sources = {**o["charge"], **o["refund"], **o["dispute"], **o["transfer"], **o["payout"]}
    for bt in o["balance_transaction"].values():
        assert bt["source"] in sources
        assert bt["net"] == bt["amount"] - bt["fee"]
    for re in o["refund"].values():
        assert re["charge"] in o["charge"]
        assert o["balance_transaction"][re["balance_transaction"]]["source"] == re["id"]
    for cn in o["credit_note"].values():
        assert cn["invoice"] in o["invoice"] and cn["refund"] in o["refund"]
    for sub in o["subscription"].values():
        assert sub["customer"] in o["customer"] and sub["latest_invoice"] in o["invoice"]
        assert [i["id"] for i in sub["items"]["data"]] == w.children[sub["id"]]
    for tr in o["transfer"].values():
        assert tr["destination"] in o["account"] and tr["source_transaction"] in o["charge"]
    for dp in o["dispute"].values():
        assert dp["charge"] in o["charge"]
    for ii in o["invoiceitem"].values():
        assert ii["customer"] in o["customer"]
        assert ii["invoice"] is None or ii["invoice"] in o["invoice"]


# (object, field) -> the object type its non-null id must name in the same world
BILLING_REFERENCES = {
    ("invoice", "charge"): "charge",
    ("invoice", "payment_intent"): "payment_intent",
    ("invoice", "subscription"): "subscription",
    ("invoice", "customer"): "customer",
    ("charge", "invoice"): "invoice",
    ("charge", "payment_intent"): "payment_intent",
    ("charge", "customer"): "customer",
    ("charge", "balance_transaction"): "balance_transaction",
    ("refund", "charge"): "charge",
    ("refund", "payment_intent"): "payment_intent",
    ("payment_intent", "latest_charge"): "charge",
    ("payment_intent", "invoice"): "invoice",
    ("payment_intent", "customer"): "customer",
}


def test_billing_id_references_resolve_and_agree(any_w: World) -> None:
    # Stripe never returns an id naming an object that does not exist; an invoice's
    # `charge` is its payment intent's `latest_charge`, and both point back to the invoice
    o = any_w.by_type
    dangling = {
        (obj, field, body["id"], body[field])
        for (obj, field), target in BILLING_REFERENCES.items()
        for body in o[obj].values()
        if body[field] is not None and body[field] not in o[target]
    }
    assert not dangling
    checked = Counter()
    for inv in o["invoice"].values():
        # a charge comes with its payment intent, and neither without the other
        assert (inv["charge"] is None) == (inv["payment_intent"] is None), inv["id"]
        if inv["charge"] is None:
            continue
        ch, pi = o["charge"][inv["charge"]], o["payment_intent"][inv["payment_intent"]]
        assert pi["latest_charge"] == ch["id"] and pi["invoice"] == inv["id"]
        assert ch["invoice"] == inv["id"] and ch["payment_intent"] == pi["id"]
        assert ch["customer"] == pi["customer"] == inv["customer"]
        assert ch["paid"] == (inv["status"] == "paid"), inv["id"]
        checked[inv["status"]] += 1
    for pi in o["payment_intent"].values():
        # every intent of the sandbox pays an invoice and has at least one attempt
        assert o["invoice"][pi["invoice"]]["payment_intent"] == pi["id"]
        assert o["charge"][pi["latest_charge"]]["payment_intent"] == pi["id"]
    for ch in o["charge"].values():
        assert o["invoice"][ch["invoice"]]["payment_intent"] == ch["payment_intent"]
    for re in o["refund"].values():
        assert re["payment_intent"] == o["charge"][re["charge"]]["payment_intent"]
    # failed attempts of unpaid invoices are there too, not only paid ones
    assert checked["paid"] > 100 and checked["uncollectible"] > 5 and checked["open"] > 0


def test_invoice_totals_add_up(any_w: World) -> None:
    w = any_w
    for inv in w.by_type["invoice"].values():
        lines = inv["lines"]["data"]
        assert inv["subtotal"] == sum(li["amount"] for li in lines)
        discount = sum(d["amount"] for d in inv["total_discount_amounts"])
        assert inv["total"] == inv["subtotal"] - discount + (inv["tax"] or 0)
        assert inv["amount_remaining"] == inv["amount_due"] - inv["amount_paid"]
        assert inv["status"] in ("draft", "open", "paid", "void", "uncollectible")


def test_payouts_settle_their_balance_transactions_except_sum_mismatches(any_w: World) -> None:
    w = any_w
    listed: Counter[str] = Counter()
    for oid, r in w.rows.items():
        if r[1] == "balance_transaction" and r[5] and r[7] != "payout":
            listed[r[5]] += w.by_type["balance_transaction"][oid]["net"]
    mismatched = {ids["payout"]: d for ids, d in w.truth["payout_sum_mismatch"]}
    platform = [p for p in w.by_type["payout"].values() if "connected_account" not in p["metadata"]]
    assert platform
    for po in platform:
        if po["id"] in mismatched:
            assert listed[po["id"]] == mismatched[po["id"]]["listed_net"] != po["amount"]
        else:
            assert listed[po["id"]] == po["amount"], po["id"]
        own = w.by_type["balance_transaction"][po["balance_transaction"]]
        assert own["amount"] == -po["amount"] and w.rows[own["id"]][5] == po["id"]


def test_payouts_to_unverified_connected_accounts_are_exactly_the_truth(any_w: World) -> None:
    w = any_w
    found = set()
    for po in w.by_type["payout"].values():
        acct = po["metadata"].get("connected_account")
        if acct:
            a = w.by_type["account"][acct]
            assert po["destination"] == a["external_accounts"]["data"][0]["id"]
            if not a["payouts_enabled"]:
                found.add(po["id"])
    assert found == w.ids("payout_to_unverified_account", "payout")


def test_crm_links_resolve_except_the_injected_breaks(w: World) -> None:
    accounts, opps = w.sf["Account"], w.sf["Opportunity"]
    no_link, deleted = set(), set()
    for cus in w.by_type["customer"].values():
        acct = cus["metadata"].get("salesforce_account_id")
        if acct is None:
            no_link.add(cus["id"])
        elif accounts[acct]["IsDeleted"]:
            deleted.add(cus["id"])
        else:
            assert accounts[acct]["Billing_Customer_Id__c"] == cus["id"]
    assert no_link == w.ids("customer_without_account", "customer")
    assert deleted == w.ids("customer_linked_to_deleted_account", "customer")
    for a in accounts.values():
        if a["Billing_Customer_Id__c"]:
            assert a["Billing_Customer_Id__c"] in w.by_type["customer"]
    without_deal = set()
    for sub in w.by_type["subscription"].values():
        opp = sub["metadata"].get("salesforce_opportunity_id")
        if opp is None:
            without_deal.add(sub["id"])
        else:
            assert opps[opp]["StageName"] == "Closed Won"
            assert opps[opp]["Billing_Subscription_Id__c"] == sub["id"]
    assert without_deal == w.ids("subscription_without_deal", "subscription")
    orphan_deals = {
        o["Id"]
        for o in opps.values()
        if o["StageName"] == "Closed Won" and not o["Billing_Subscription_Id__c"]
    }
    assert orphan_deals == w.ids("deal_without_subscription", "opportunity")
    users = w.sf["User"]
    for sobject in ("Account", "Contact", "Opportunity", "Case"):
        for r in w.sf[sobject].values():
            assert r["LastModifiedById"] in users and r["CreatedById"] in users
            if sobject != "Account":
                assert r["AccountId"] in accounts


def test_crm_billing_status_matches_billing_except_stale_ones(any_w: World) -> None:
    # advanced days keep the CRM's copy synced and record the syncs not yet due
    w = any_w
    subs_by_customer = {s["customer"]: s for s in w.by_type["subscription"].values()}
    stale = set()
    for a in w.sf["Account"].values():
        cus = a["Billing_Customer_Id__c"]
        if cus and a["Billing_Status__c"] != subs_by_customer[cus]["status"]:
            stale.add(a["Id"])
    assert stale == w.ids("crm_billing_status_stale", "account")


def test_dunning_cases_carry_the_priority_flag_except_the_injected(any_w: World) -> None:
    # a dunning invoice paid on an advanced day ends its case's discrepancy
    w = any_w
    in_dunning = {
        s["customer"]
        for s in w.by_type["subscription"].values()
        if s["status"] in ("past_due", "unpaid")
    }
    # the invoices still unpaid of each customer in dunning: what its cases are about
    unpaid = defaultdict(set)
    for inv in w.by_type["invoice"].values():
        if inv["customer"] in in_dunning and inv["status"] in ("open", "uncollectible"):
            unpaid[inv["customer"]].add(inv["number"])
    dunning = {
        a["Id"]: unpaid[a["Billing_Customer_Id__c"]]
        for a in w.sf["Account"].values()
        if a["Billing_Customer_Id__c"] in in_dunning
    }
    missing = {
        c["Id"]
        for c in w.sf["Case"].values()
        if c["AccountId"] in dunning
        and c["Subject"].startswith("Payment failed")
        and c["Subject"].removeprefix("Payment failed on invoice ") in dunning[c["AccountId"]]
        and not c["Billing_Priority_Flag__c"]
    }
    assert missing == w.ids("case_dunning_without_priority", "case")


def test_eu_vat_numbers_are_valid_except_the_injected(any_w: World) -> None:
    w = any_w
    invalid = set()
    n_valid = 0
    for cus in w.by_type["customer"].values():
        for t in cus["tax_ids"]["data"]:
            if t["type"] == "eu_vat":
                if eu_vat.is_valid(t["value"]):
                    n_valid += 1
                else:
                    invalid.add(cus["id"])
    assert n_valid > 10
    assert invalid == w.ids("invalid_eu_vat", "customer")


def test_erp_postings_match_billing_except_the_injected(any_w: World) -> None:
    w = any_w
    cur = {r["id"]: r["symbol"].lower() for r in w.erp["currency"]}
    erp_customers = {r["id"]: r for r in w.erp["customer"]}
    assert {r["externalid"] for r in erp_customers.values()} == set(w.by_type["customer"])
    by_ext: dict[str, list[dict]] = defaultdict(list)
    for t in w.erp["transaction"]:
        by_ext[t["externalid"]].append(t)
    lines: dict[int, Decimal] = defaultdict(Decimal)
    for ln in w.erp["transactionline"]:
        lines[ln["transaction"]] += Decimal(ln["foreignamount"])
    assert all(v == 0 for v in lines.values())  # every posting balances
    periods = {p["id"]: p for p in w.erp["accountingperiod"]}
    found: dict[str, set[str]] = defaultdict(set)
    for inv in w.by_type["invoice"].values():
        if inv["status"] in ("draft", "void"):
            assert inv["id"] not in by_ext
            continue
        posted = by_ext.get(inv["id"], [])
        if not posted:
            found["erp_invoice_missing"].add(inv["id"])
            continue
        if len(posted) > 1:
            found["erp_duplicate_posting"].add(inv["id"])
        t = posted[0]
        assert erp_customers[t["entity"]]["externalid"] == inv["customer"]
        if Decimal(t["foreigntotal"]) != Decimal(inv["total"]) / 100:
            found["erp_amount_mismatch"].add(inv["id"])
        if cur[t["currency"]] != inv["currency"]:
            found["erp_currency_mismatch"].add(inv["id"])
        p = periods[t["postingperiod"]]
        if not p["startdate"] <= t["trandate"] <= p["enddate"]:
            found["erp_wrong_period"].add(inv["id"])
    for kind in (
        "erp_invoice_missing",
        "erp_duplicate_posting",
        "erp_amount_mismatch",
        "erp_currency_mismatch",
        "erp_wrong_period",
    ):
        assert found[kind] == w.ids(kind, "invoice"), kind
    applied = {r["nextdoc"] for r in w.erp["previoustransactionlinelink"]}
    omitted = {c for _, d in w.truth["erp_invoice_missing"] for c in d["omitted"]["charges"]}
    omitted_re = {c for _, d in w.truth["erp_invoice_missing"] for c in d["omitted"]["refunds"]}
    unapplied = set()
    for ch in w.by_type["charge"].values():
        if not ch["paid"] or ch["id"] in omitted:
            assert ch["id"] not in by_ext
            if ch["id"] in omitted:  # its invoice is missing from the ERP, so is its payment
                unapplied.add(ch["id"])
            continue
        (t,) = by_ext[ch["id"]]
        assert t["type"] == "CustPymt" and Decimal(t["foreigntotal"]) * 100 == ch["amount"]
        if t["id"] not in applied:
            unapplied.add(ch["id"])
    assert unapplied == w.ids("erp_payment_unapplied", "charge")
    missing_refunds = {r for r in w.by_type["refund"] if r not in by_ext and r not in omitted_re}
    assert missing_refunds == w.ids("erp_refund_missing", "refund")
    not_posted = {
        p["id"]
        for p in w.by_type["payout"].values()
        if "connected_account" not in p["metadata"] and p["id"] not in by_ext
    }
    assert not_posted == w.ids("payout_not_posted", "payout")


def test_event_breaks_are_exactly_the_truth(any_w: World) -> None:
    w = any_w
    events = w.by_type["event"]
    for ids, _ in w.truth["event_duplicate"]:
        a, b = events[ids["event"]], events[ids["duplicate_of"]]
        assert a["type"] == b["type"] and a["data"] == b["data"]
    for ids, _ in w.truth["event_out_of_order"]:
        assert events[ids["event"]]["created"] < events[ids["after"]]["created"]
    undelivered = {i for i, r in w.rows.items() if r[1] == "event" and r[8] == 0}
    assert undelivered == w.ids("event_late", "event")
    assert all(e["created"] <= w.now for e in events.values())


def test_objects_created_inside_the_event_window_have_events(any_w: World) -> None:
    w = any_w
    window_start = w.now - 35 * 86_400
    mentioned = {e["data"]["object"]["id"] for e in w.by_type["event"].values()}
    checked = 0
    for obj in (
        "customer",
        "subscription",
        "invoice",
        "invoiceitem",
        "payment_intent",
        "charge",
        "refund",
        "credit_note",
        "dispute",
        "transfer",
        "payout",
    ):
        for oid, body in w.by_type[obj].items():
            if obj == "payout" and "connected_account" in body["metadata"]:
                continue  # a connected account's own events are not the platform's
            if w.rows[oid][2] >= window_start:
                assert oid in mentioned, (obj, oid)
                checked += 1
    assert checked > 100
