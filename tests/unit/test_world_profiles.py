"""World profiles: the default world is the one it always was; the messy world is the same
business set up as real orgs are, deterministic, coherent, with every injected difference in
its truth and described by its own contract (sandbox/world/profiles)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from q2c.policy.loader import load_contract
from q2c.policy.model import CANONICAL_VALUES, normalize_value
from sandbox.world import SCALES, generate
from sandbox.world.profiles import MESSY, UNMAPPED_STATUS, profile_of_world
from sandbox.world.salesforce_schema import sobjects_for
from tests.unit.test_world_determinism import TABLES, world_digest

pytestmark = pytest.mark.unit

#: sha256 of every billing, Salesforce and ERP row of the default XS world, seed 3, as the
#: generator wrote it before profiles existed (truth left out: its kinds evolve with the
#: reconciliation). A change to the default world must change this on purpose.
#: Changed on purpose on 2026-12-05: the ERP chart's fx_clearing account (1310) and the
#: org's Opportunity.Renewal_Key__c field (null on every generated opportunity).
DEFAULT_XS_SEED3_DIGEST = "923f24cf9597ada6830c4a5fd6898b0b55e4474dcc7eb93784f3405c8c114485"


def systems_digest(d: Path) -> str:
    h = hashlib.sha256()
    for name in ("billing", "salesforce", "erp"):
        con = sqlite3.connect(d / f"{name}.sqlite")
        for table in TABLES[name]:
            h.update(table.encode())
            for row in sorted(repr(r) for r in con.execute(f'SELECT * FROM "{table}"')):
                h.update(row.encode())
        con.close()
    return h.hexdigest()


def rows(path: Path, sql: str, *args: object) -> list[sqlite3.Row]:
    con = sqlite3.connect(path)
    con.row_factory = sqlite3.Row
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(default XS world, messy XS world), both seed 3."""
    root = tmp_path_factory.mktemp("profiles")
    generate(root / "default", seed=3, scale=SCALES["XS"])
    generate(root / "messy", seed=3, scale=SCALES["XS"], profile="messy")
    return root / "default", root / "messy"


def test_the_default_profile_writes_the_world_it_always_did(worlds: tuple[Path, Path]) -> None:
    default, _ = worlds
    assert systems_digest(default) == DEFAULT_XS_SEED3_DIGEST
    assert profile_of_world(default).name == "default"
    for table in ("dq_problems", "mess"):
        assert not rows(default / "truth.sqlite", f"SELECT * FROM {table}")
    assert not rows(default / "erp.sqlite", "SELECT * FROM meta WHERE key='date_format'")


def test_a_messy_world_is_deterministic(worlds: tuple[Path, Path], tmp_path: Path) -> None:
    _, messy = worlds
    generate(tmp_path, seed=3, scale=SCALES["XS"], profile="messy")
    assert world_digest(tmp_path) == world_digest(messy)
    for table in ("dq_problems", "mess"):
        sql = f"SELECT * FROM {table} ORDER BY id"
        assert [tuple(r) for r in rows(tmp_path / "truth.sqlite", sql)] == [
            tuple(r) for r in rows(messy / "truth.sqlite", sql)
        ]
    assert world_digest(messy) != world_digest(worlds[0])


def test_the_messy_world_bills_the_same_business(worlds: tuple[Path, Path]) -> None:
    default, messy = worlds
    sql = "SELECT id, json_extract(body, '$.total') FROM objects WHERE object='invoice'"
    assert rows(default / "billing.sqlite", sql) and sorted(
        map(tuple, rows(default / "billing.sqlite", sql))
    ) == sorted(map(tuple, rows(messy / "billing.sqlite", sql)))


def test_messy_records_use_the_orgs_field_names_and_labels(worlds: tuple[Path, Path]) -> None:
    _, messy = worlds
    schema = {o: {f.name: f for f in fs} for o, fs in sobjects_for(MESSY).items()}
    assert "Stripe_Customer__c" in schema["Account"]
    assert "Billing_Customer_Id__c" not in schema["Account"]
    # every custom field of the shipped org has this org's name
    for sobject, names in MESSY.crm_field_names.items():
        for shipped, mine in names.items():
            assert mine in schema[sobject] and shipped not in schema[sobject]
    assert "Stripe_Subscription__c" in schema["Opportunity"]
    seen: Counter[tuple[str, str, str]] = Counter()
    for r in rows(messy / "salesforce.sqlite", "SELECT sobject, body FROM records"):
        body = json.loads(r["body"])
        assert set(body) == set(schema[r["sobject"]]), r["sobject"]
        for fname, labels in MESSY.labels.get(r["sobject"], {}).items():
            value = body[MESSY.crm_field(r["sobject"], fname)]
            allowed = {v.lower() for v in labels.values() if v}
            if value is None or value == UNMAPPED_STATUS:
                continue
            assert value.strip().lower() in allowed, (r["sobject"], fname, value)
            kind = "label" if value in labels.values() else "variant"
            seen[(r["sobject"], fname, kind)] += 1
    # labels everywhere, and some typed in another case or with stray spaces
    assert seen[("Account", "Billing_Status__c", "label")] > 20
    assert seen[("Opportunity", "StageName", "label")] > 20
    assert sum(n for (_, _, kind), n in seen.items() if kind == "variant") > 0


def test_the_messy_contract_maps_every_label_and_link_of_the_org(
    worlds: tuple[Path, Path],
) -> None:
    _, messy = worlds
    contract = load_contract(MESSY.contract)
    links = contract.mapping.links
    assert links.customer_account.crm_field == MESSY.account_customer_field
    assert links.customer_account.billing_metadata_key == MESSY.customer_account_key
    assert links.subscription_deal.crm_field == MESSY.opportunity_subscription_field
    assert links.subscription_deal.billing_metadata_key == MESSY.subscription_opportunity_key
    # every label (and every case/spacing variant stored) maps to the word it stands for
    maps = {
        ("Account", "Billing_Status__c"): ("billing_status", None),
        ("Opportunity", "StageName"): ("opportunity_stage", "stage"),
        ("Case", "Status"): ("case_status", None),
        ("Case", "Priority"): ("case_priority", None),
    }
    stage_words = {"Closed Won": "closed_won", "Closed Lost": "closed_lost"}
    for (sobject, fname), (map_name, kind) in maps.items():
        vmap = contract.mapping.value_map(map_name)
        table = vmap.lookup(CANONICAL_VALUES[map_name])
        for word, label in MESSY.labels[sobject][fname].items():
            if label is None:
                continue
            want = stage_words.get(word, "open") if kind == "stage" else word.lower()
            for variant in (label, label.upper(), " " + label.lower(), label + " "):
                got = table.get(normalize_value(variant, case_insensitive=vmap.case_insensitive))
                assert got == want, (map_name, variant, got, want)
    assert normalize_value(UNMAPPED_STATUS) not in contract.mapping.value_map(
        "billing_status"
    ).lookup(CANONICAL_VALUES["billing_status"])
    # the contract's GL numbers are the ERP's accounts for each posting role
    numbers = {r["acctnumber"] for r in rows(messy / "erp.sqlite", "SELECT * FROM account")}
    assert {a.acctnumber for a in contract.erp.chart_of_accounts.values()} <= numbers
    assert "1200" not in numbers


def test_deals_linked_only_through_the_account_name_each_other_nowhere(
    worlds: tuple[Path, Path],
) -> None:
    _, messy = worlds
    links = rows(messy / "truth.sqlite", "SELECT object_ids, detail FROM mess WHERE kind=?",
                 "account_only_link")  # fmt: skip
    assert len(links) >= 5
    for link in links:
        ids = json.loads(link["object_ids"])
        (opp,) = rows(messy / "salesforce.sqlite", "SELECT body FROM records WHERE id=?",
                      ids["opportunity"])  # fmt: skip
        opp = json.loads(opp["body"])
        (sub,) = rows(messy / "billing.sqlite", "SELECT body FROM objects WHERE id=?",
                      ids["subscription"])  # fmt: skip
        sub = json.loads(sub["body"])
        (cus,) = rows(messy / "billing.sqlite", "SELECT body FROM objects WHERE id=?",
                      sub["customer"])  # fmt: skip
        cus = json.loads(cus["body"])
        assert opp["Stripe_Subscription__c"] is None and sub["metadata"] == {}
        assert opp["AccountId"] == ids["account"]
        assert ids["account"].startswith(cus["metadata"]["sfdc_account_id"])  # 15 or 18 chars
        assert opp["IsWon"] and not opp["IsDeleted"]
        item = sub["items"]["data"][0]
        months = 12 if item["price"]["recurring"]["interval"] == "year" else 1
        annual = item["quantity"] * item["price"]["unit_amount"] * 12 // months
        tolerance = load_contract(MESSY.contract).mapping.matching.amount_tolerance_minor
        assert abs(Decimal(str(opp["Amount"])) * 100 - annual) <= tolerance
        start = datetime.fromtimestamp(sub["start_date"], UTC).date()
        assert 0 <= (start - date.fromisoformat(opp["CloseDate"])).days <= 21
    amounts = [json.loads(link["detail"]) for link in links]
    assert any(d["amount"] != d["annual_value"] for d in amounts)  # some rounded by the rep


def test_hand_keyed_postings_match_their_invoice_by_content_only(
    worlds: tuple[Path, Path],
) -> None:
    _, messy = worlds
    erp, billing, truth = (messy / f"{n}.sqlite" for n in ("erp", "billing", "truth"))
    hand = [json.loads(r["object_ids"]) for r in rows(
        truth, "SELECT object_ids FROM mess WHERE kind='hand_keyed_posting'")]  # fmt: skip
    dups = [json.loads(r["object_ids"]) for r in rows(
        truth, "SELECT object_ids FROM discrepancies WHERE kind='erp_duplicate_posting'"
        " AND json_extract(detail, '$.hand_keyed')")]  # fmt: skip
    assert hand and dups
    customers = {r["id"]: r["externalid"] for r in rows(erp, "SELECT * FROM customer")}
    postings = rows(erp, "SELECT * FROM \"transaction\" WHERE type='CustInvc'")
    by_id = {r["id"]: r for r in postings}
    content = Counter(
        (r["entity"], r["currency"], r["foreigntotal"], r["trandate"]) for r in postings
    )
    for ids, tid in [(h, h["erp_transaction"]) for h in hand] + [
        (d, d["erp_duplicate"]) for d in dups
    ]:
        t = by_id[tid]
        (inv,) = rows(billing, "SELECT body FROM objects WHERE id=?", ids["invoice"])
        inv = json.loads(inv["body"])
        finalized = datetime.fromtimestamp(inv["status_transitions"]["finalized_at"], UTC)
        assert t["externalid"] is None
        assert customers[t["entity"]] == inv["customer"]
        assert Decimal(t["foreigntotal"]) * 100 == inv["total"]
        keyed = date.fromisoformat(t["trandate"])
        assert 0 <= (keyed - finalized.date()).days <= 2 and keyed.month == finalized.month
        # of the customer's invoices of that amount, the posting is nearest to its own
        same = rows(
            billing,
            "SELECT id, json_extract(body, '$.status_transitions.finalized_at') AS f"
            " FROM objects WHERE object='invoice' AND customer=?"
            " AND json_extract(body, '$.total')=? AND f IS NOT NULL",
            inv["customer"],
            inv["total"],
        )
        gaps = sorted(
            (abs((datetime.fromtimestamp(r["f"], UTC).date() - keyed).days), r["id"]) for r in same
        )
        assert gaps[0][1] == ids["invoice"] and (len(gaps) == 1 or gaps[1][0] > gaps[0][0])
    # an invoice's only posting has no twin by content: a content match is never ambiguous
    for h in hand:
        t = by_id[h["erp_transaction"]]
        assert content[(t["entity"], t["currency"], t["foreigntotal"], t["trandate"])] == 1
    for d in dups:
        a, b = by_id[d["erp_transaction"]], by_id[d["erp_duplicate"]]
        assert a["externalid"] == d["invoice"]
        assert [a[c] for c in ("entity", "currency", "foreigntotal", "trandate")] == [
            b[c] for c in ("entity", "currency", "foreigntotal", "trandate")
        ]


def test_data_problems_in_the_truth_are_in_the_systems(worlds: tuple[Path, Path]) -> None:
    _, messy = worlds
    problems = rows(messy / "truth.sqlite", "SELECT * FROM dq_problems")
    kinds = Counter(p["problem"] for p in problems)
    assert kinds["unmapped_value"] >= 1, kinds
    contract_numbers = {
        a.acctnumber for a in load_contract(MESSY.contract).erp.chart_of_accounts.values()
    }
    for p in problems:
        if p["problem"] == "unmapped_value":
            (acct,) = rows(messy / "salesforce.sqlite", "SELECT body FROM records WHERE id=?",
                           p["object_id"])  # fmt: skip
            assert json.loads(acct["body"])[p["field"]] == p["value"] == UNMAPPED_STATUS
        else:
            assert p["problem"] == "unmapped_gl_account"
            tid, line = p["object_id"].split(":")
            (number,) = rows(
                messy / "erp.sqlite",
                "SELECT a.acctnumber FROM transactionline l JOIN account a ON a.id = l.account"
                ' WHERE l."transaction"=? AND l.id=?',
                int(tid),
                int(line),
            )
            assert number[0] == p["value"] and p["value"] not in contract_numbers
    # no other line of the ERP hits an account the contract does not map
    used = rows(
        messy / "erp.sqlite",
        "SELECT DISTINCT a.acctnumber FROM transactionline l JOIN account a ON a.id = l.account",
    )
    assert {u[0] for u in used} - contract_numbers <= {p["value"] for p in problems}


def test_won_deals_not_billed_yet_are_deals_without_subscription(
    worlds: tuple[Path, Path],
) -> None:
    _, messy = worlds
    unbilled = [
        json.loads(r["object_ids"])
        for r in rows(
            messy / "truth.sqlite",
            "SELECT object_ids FROM discrepancies WHERE kind='deal_without_subscription'"
            " AND json_extract(detail, '$.billing_customer') IS NULL"
            " AND detail LIKE '%billing_customer%'",
        )
    ]
    assert unbilled
    for ids in unbilled:
        (acct,) = rows(messy / "salesforce.sqlite", "SELECT body FROM records WHERE id=?",
                       ids["account"])  # fmt: skip
        acct = json.loads(acct["body"])
        assert acct["Type"] == "Customer" and acct["Stripe_Customer__c"] is None
        assert acct["CurrencyIsoCode"] and acct["Subscription_Status__c"] is None
        linked = rows(
            messy / "billing.sqlite",
            "SELECT id FROM objects WHERE object='customer'"
            " AND json_extract(body, '$.metadata.sfdc_account_id')=?",
            ids["account"],
        )
        assert not linked


def test_the_messy_erp_has_sparse_integer_ids_and_a_date_preference(
    worlds: tuple[Path, Path],
) -> None:
    _, messy = worlds
    erp = messy / "erp.sqlite"
    ids = [r[0] for r in rows(erp, 'SELECT id FROM "transaction" ORDER BY id')]
    assert all(isinstance(i, int) for i in ids) and ids[0] > 1_000_000
    assert len(ids) < ids[-1] - ids[0]  # other record types took numbers in between
    (fmt,) = rows(erp, "SELECT value FROM meta WHERE key='date_format'")
    assert fmt[0] == MESSY.erp_date_format
    assert profile_of_world(messy) is MESSY


def test_some_billing_links_hold_the_15_character_salesforce_id(
    worlds: tuple[Path, Path],
) -> None:
    _, messy = worlds
    short = [
        json.loads(r["object_ids"])
        for r in rows(
            messy / "truth.sqlite",
            "SELECT object_ids FROM mess WHERE kind=?",
            "short_salesforce_id",
        )  # fmt: skip
    ]
    live = {r["id"] for r in rows(messy / "salesforce.sqlite", "SELECT id FROM records")}
    keys = (MESSY.customer_account_key, MESSY.subscription_opportunity_key)
    assert short
    for ids in short:
        (holder,) = rows(messy / "billing.sqlite", "SELECT body FROM objects WHERE id=?",
                         ids["billing_object"])  # fmt: skip
        stored = [v for k, v in json.loads(holder["body"])["metadata"].items() if k in keys]
        assert stored == [ids["record"][:15]] and ids["record"] in live
    holders = {ids["billing_object"] for ids in short}
    for r in rows(messy / "billing.sqlite", "SELECT id, body FROM objects WHERE object IN"
                  " ('customer', 'subscription')"):  # fmt: skip
        if r["id"] not in holders:
            for k, v in json.loads(r["body"])["metadata"].items():
                assert k not in keys or (len(v) == 18 and v in live)


def test_hand_keyed_payments_match_their_charge_by_content_only(
    worlds: tuple[Path, Path],
) -> None:
    _, messy = worlds
    erp, billing, truth = (messy / f"{n}.sqlite" for n in ("erp", "billing", "truth"))
    keyed = [json.loads(r["object_ids"]) for r in rows(
        truth, "SELECT object_ids FROM mess WHERE kind='hand_keyed_payment'")]  # fmt: skip
    assert keyed
    customers = {r["id"]: r["externalid"] for r in rows(erp, "SELECT * FROM customer")}
    payments = rows(erp, "SELECT * FROM \"transaction\" WHERE type='CustPymt'")
    by_id = {r["id"]: r for r in payments}
    content = Counter(
        (r["entity"], r["currency"], r["foreigntotal"], r["trandate"]) for r in payments
    )
    for ids in keyed:
        t = by_id[ids["erp_payment"]]
        (ch,) = rows(billing, "SELECT body FROM objects WHERE id=?", ids["charge"])
        ch = json.loads(ch["body"])
        assert t["externalid"] is None and customers[t["entity"]] == ch["customer"]
        assert Decimal(t["foreigntotal"]) * 100 == ch["amount"]
        assert t["trandate"] == datetime.fromtimestamp(ch["created"], UTC).strftime("%Y-%m-%d")
        assert content[(t["entity"], t["currency"], t["foreigntotal"], t["trandate"])] == 1
