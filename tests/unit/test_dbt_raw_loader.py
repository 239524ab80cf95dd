"""The test loader's normalization (INTERFACES.md section 3) of Salesforce and ERP rows."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from decimal import Decimal

import pytest

from tests.support.raw_from_world import (
    canonical_json,
    make_row,
    normalize_erp_row,
    normalize_sf_datetime,
    normalize_sf_record,
)

pytestmark = pytest.mark.unit


def test_salesforce_datetimes_become_utc_z_form() -> None:
    assert normalize_sf_datetime("2026-01-02T03:04:05.000+0000") == "2026-01-02T03:04:05.000Z"
    assert normalize_sf_datetime("2026-01-02T03:04:05.000Z") == "2026-01-02T03:04:05.000Z"
    assert normalize_sf_datetime(None) is None


def test_salesforce_datetime_in_another_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="unexpected Salesforce datetime"):
        normalize_sf_datetime("2026-01-02T03:04:05.000+0200")


def test_salesforce_currency_becomes_an_exact_decimal_string_and_booleans_stay() -> None:
    body = json.loads(
        '{"Id": "001x", "MRR__c": 1234.5, "ARR__c": 100, "IsDeleted": false,'
        ' "SystemModstamp": "2026-01-02T03:04:05.000+0000", "attributes": {"type": "Account"}}',
        parse_float=Decimal,
    )
    out = normalize_sf_record("Account", body)
    assert out == {
        "Id": "001x",
        "MRR__c": "1234.5",
        "ARR__c": "100",
        "IsDeleted": False,
        "SystemModstamp": "2026-01-02T03:04:05.000Z",
    }


def test_salesforce_currency_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(ValueError, match=r"Account\.MRR__c: expected a number"):
        normalize_sf_record("Account", {"MRR__c": True})


def test_erp_rows_become_lowercase_strings_with_nulls_kept() -> None:
    con = sqlite3.connect(":memory:")
    con.row_factory = sqlite3.Row
    row = con.execute("select 12 as ID, '1234.50' as ForeignTotal, null as Memo").fetchone()
    assert normalize_erp_row(row) == {"id": "12", "foreigntotal": "1234.50", "memo": None}


def test_payload_hash_is_the_sha256_of_the_canonical_json() -> None:
    row = make_row("in_1", None, {"b": 1, "a": "é"}, False)
    assert row.payload == '{"a":"é","b":1}' == canonical_json({"a": "é", "b": 1})
    assert row.payload_hash == hashlib.sha256(row.payload.encode()).hexdigest()
