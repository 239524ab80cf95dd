"""The PII scanner of the e2e scan (`tests/support/pii_scan.py`) finds an injected leak, in the
spellings it is commonly written in, only where the contract's channel does not allow it, and
says where; a masked or hashed value is not a hit."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from pathlib import Path

import pytest

from q2c.masking import MaskContext, MaskingPolicy, mask_record
from q2c.policy import load_contract
from tests.support.pii_scan import PiiScanner, PiiValue, classify, spellings, world_pii

pytestmark = pytest.mark.unit

POLICY = MaskingPolicy.from_contract(load_contract(), salt=b"unit")
TRUTH = [
    ("billing", "customer", "cus_1", "email", "jane.roe@example.org"),
    ("billing", "customer", "cus_1", "name", "Roe Consulting"),
    ("billing", "customer", "cus_1", "phone", "+49 30 1234-5678"),
    ("billing", "customer", "cus_1", "address.postal_code", "10115"),
    ("billing", "customer", "cus_1", "tax_ids.eu_vat", "DE123456789"),
    ("billing", "account", "acct_1", "metadata.payout_iban", "DE41583391659481433802"),
    ("salesforce", "Contact", "003A", "FirstName", "Jane"),
    ("salesforce", "Contact", "003A", "LastName", "Read"),
]


@pytest.fixture
def scanner(tmp_path: Path) -> PiiScanner:
    with sqlite3.connect(tmp_path / "truth.sqlite") as conn:
        conn.execute("create table pii(system, object, id, field, value)")
        conn.executemany("insert into pii values (?, ?, ?, ?, ?)", TRUTH)
    return PiiScanner(world_pii(tmp_path, POLICY), POLICY)


def test_values_get_their_contract_class() -> None:
    assert classify(POLICY, "billing", "customer", "email") == "email"
    assert classify(POLICY, "billing", "customer", "address.postal_code") == "postal_address"
    assert classify(POLICY, "billing", "customer", "tax_ids.eu_vat") == "tax_id"
    assert classify(POLICY, "billing", "account", "metadata.payout_iban") == "bank_account"
    assert classify(POLICY, "salesforce", "Contact", "FirstName") == "person_name"


def test_an_injected_leak_is_found_with_where_and_what(scanner: PiiScanner) -> None:
    log = "INFO q2c.writeback wrote account 001A (owner jane.roe@example.org) in 3 ms"
    hits = scanner.scan("python logs", "logs", log)
    assert [(h.where, h.value.cls, h.value.value) for h in hits] == [
        ("python logs", "email", "jane.roe@example.org")
    ]
    assert "jane.roe@example.org" in str(hits[0]) and "python logs" in scanner.report()


@pytest.mark.parametrize(
    "text",
    [
        "call 493012345678 now",  # the phone without its separators
        "iban DE41 5833 9165 9481 4338 02 on file",  # the IBAN in groups of four
        "from JANE.ROE@EXAMPLE.ORG".lower(),
        "customer Roe Consulting is late",
        "vat DE123456789.",
    ],
)
def test_common_spellings_are_leaks_too(scanner: PiiScanner, text: str) -> None:
    assert scanner.scan("log", "logs", text), text


def test_no_hit_for_masked_values_nor_parts_of_other_words(scanner: PiiScanner) -> None:
    record = {"email": "jane.roe@example.org", "name": "Roe Consulting",
              "iban": "DE41583391659481433802", "description": "call +49 30 1234-5678"}  # fmt: skip
    for channel in ("logs", "dagster_metadata", "dlq", "audit", "exports", "reports"):
        masked = str(mask_record(record, MaskContext(channel, "billing", "customer"), POLICY))
        assert scanner.scan(channel, channel, masked) == [], (channel, masked)
    # a value is a whole word or nothing; postal codes are not searched (they are numbers); a
    # family name alone is a common word ("Read"): a person is their name with the given name
    assert scanner.scan("log", "logs", "Janet paid 10115 cents; Read the docs") == []
    for text in ("by Jane Read.", '{"FirstName": "Jane", "Id": "003A", "LastName": "Read"}'):
        assert [h.value.field for h in scanner.scan("log", "logs", text)] == [
            "FirstName+LastName"
        ], text
    assert scanner.skipped == 1


def test_what_the_channel_allows_is_not_a_hit(scanner: PiiScanner) -> None:
    # the CRM is where names, emails and phones belong; tax ids stay out of it
    journal = json.dumps(
        {"Email": "jane.roe@example.org", "Name": "Roe Consulting", "Phone": "+49 30 1234-5678"}
    )
    assert scanner.scan("journal", "crm", journal) == []
    assert [h.value.cls for h in scanner.scan("journal", "crm", "VAT DE123456789")] == ["tax_id"]
    # the ERP export carries the tax id (exports: allow), never the email
    assert scanner.scan("export", "exports", "DE123456789") == []
    assert scanner.scan("export", "exports", "jane.roe@example.org")


def test_a_workbook_is_read_inside(scanner: PiiScanner, tmp_path: Path) -> None:
    book = tmp_path / "report.xlsx"
    with zipfile.ZipFile(book, "w") as z:
        z.writestr("xl/sharedStrings.xml", "<sst><si><t>Roe Consulting</t></si></sst>")
    assert [h.value.value for h in scanner.scan_file(book, "reports")] == ["Roe Consulting"]


def test_spellings() -> None:
    assert spellings("(001)-3250461") == {"(001)-3250461", "0013250461"}
    assert "DE41 5833 9165 9481 4338 02" in spellings("DE41583391659481433802")
    assert spellings("00068") == set()
    assert PiiValue("x", "s", "o", "f", None) == PiiValue("x", "s", "o", "f", None)
