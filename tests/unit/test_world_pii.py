"""Every PII or tax value in the world is listed in truth.pii (the masking tests' oracle)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from sandbox.world import SCALES, generate

pytestmark = pytest.mark.unit

# where personal data sits in each system's records
BILLING_FIELDS = {
    "customer": [("name",), ("email",), ("phone",), ("address", "line1")],
    "invoice": [
        ("customer_name",),
        ("customer_email",),
        ("customer_phone",),
        ("customer_address", "line1"),
    ],
    "charge": [("billing_details", "email"), ("billing_details", "address", "line1")],
    "account": [
        ("email",),
        ("metadata", "payout_iban"),
        ("metadata", "payout_account_number"),
        ("metadata", "payout_account_holder"),
        ("company", "phone"),
    ],
}
SALESFORCE_FIELDS = {
    "Contact": ["FirstName", "LastName", "Email", "Phone", "MailingStreet"],
    "Account": ["Phone", "BillingStreet"],
    "User": ["Email"],
}


def _get(body: dict, path: tuple[str, ...]) -> object:
    for key in path:
        body = body.get(key) if isinstance(body, dict) else None
    return body


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pii")
    generate(d, seed=21, scale=SCALES["XS"])
    return d


def test_every_personal_value_in_billing_and_crm_is_in_truth_pii(world: Path) -> None:
    pii = {r[0] for r in sqlite3.connect(world / "truth.sqlite").execute("SELECT value FROM pii")}
    checked = 0
    b = sqlite3.connect(world / "billing.sqlite")
    for obj, paths in BILLING_FIELDS.items():
        for (text,) in b.execute("SELECT body FROM objects WHERE object=?", (obj,)):
            body = json.loads(text)
            for path in paths:
                value = _get(body, path)
                if value and not (obj == "account" and path == ("email",) and "@" not in value):
                    assert value in pii, (obj, path)
                    checked += 1
            for t in body.get("tax_ids", {}).get("data", []) if obj == "customer" else []:
                assert t["value"] in pii
                checked += 1
    s = sqlite3.connect(world / "salesforce.sqlite")
    for sobject, fields in SALESFORCE_FIELDS.items():
        for (text,) in s.execute("SELECT body FROM records WHERE sobject=?", (sobject,)):
            body = json.loads(text)
            for f in fields:
                if body[f] and not (sobject == "User" and body[f].startswith("integration@")):
                    assert body[f] in pii, (sobject, f)
                    checked += 1
    e = sqlite3.connect(world / "erp.sqlite")
    for (email,) in e.execute("SELECT email FROM customer"):
        assert email in pii
        checked += 1
    assert checked > 500


def test_payee_bank_numbers_are_full_in_connected_account_metadata(world: Path) -> None:
    b = sqlite3.connect(world / "billing.sqlite")
    accounts = [
        json.loads(t) for (t,) in b.execute("SELECT body FROM objects WHERE object='account'")
    ]
    assert accounts
    for a in accounts:
        number = a["metadata"].get("payout_iban") or a["metadata"]["payout_account_number"]
        assert len(number) >= 10
        assert a["external_accounts"]["data"][0]["last4"] == number[-4:]
