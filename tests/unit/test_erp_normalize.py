"""ERP normalize_record, SuiteQL text, paging arithmetic and error mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from extractors.erp.extract import overlap_start, to_raw_records
from extractors.erp.normalize import RecordInvalid, normalize_record
from extractors.erp.suiteql import ErpHTTPError, is_transient, next_offset, parse_error
from extractors.erp.tables import LINE_STAMP, TABLES, build_query, object_id

pytestmark = pytest.mark.unit

TXN = TABLES["transaction"].columns


def test_suiteql_item_becomes_strings_with_links_dropped_and_nulls_filled():
    item = {
        "links": [],
        "id": 12,
        "tranid": "INV-12",
        "type": "CustInvc",
        "trandate": "2026-10-01",
        "postingperiod": "30",
        "entity": "7",
        "currency": 1,
        "foreigntotal": 1234.5,
        "externalid": "in_123",
        "createddate": "2026-10-01T10:00:00Z",
        "lastmodifieddate": "2026-10-02 11:00:00",
    }  # memo and status left out: NetSuite omits null columns
    out = normalize_record(item, TXN)
    assert list(out)[: len(TXN)] == list(TXN)
    assert out["id"] == "12" and out["currency"] == "1" and out["postingperiod"] == "30"
    assert out["foreigntotal"] == "1234.5"  # exact decimal text, never a float
    assert out["memo"] is None and out["status"] is None
    assert out["lastmodifieddate"] == "2026-10-02T11:00:00Z"
    assert "links" not in out


def test_string_and_number_shapes_of_the_same_row_are_equal():
    a = normalize_record(
        {"id": "3", "foreignamount": "10.50", "transaction": "9"},
        ["id", "transaction", "foreignamount"],
    )
    b = normalize_record(
        {"id": 3, "foreignamount": "10.50", "transaction": 9},
        ["id", "transaction", "foreignamount"],
    )
    assert a == b


def test_netsuite_us_dates_are_read():
    out = normalize_record({"id": "1", "startdate": "10/1/2026"}, ["id", "startdate"])
    assert out["startdate"] == "2026-10-01"


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("foreigntotal", "#VALUE!"),
        ("id", "#VALUE!"),
        ("trandate", "#VALUE!"),
        ("lastmodifieddate", "soon"),
        ("closed", "maybe"),
    ],
)
def test_corrupt_values_raise_naming_the_column_not_the_value(column, value):
    with pytest.raises(RecordInvalid, match=column) as info:
        normalize_record({"id": "1", column: value}, ["id", column])
    assert value not in str(info.value)


def test_to_raw_records_uses_composite_ids_and_the_transaction_stamp_for_lines():
    spec = TABLES["transactionline"]
    items = [
        {
            "id": "1",
            "transaction": "40",
            "foreignamount": "5.00",
            LINE_STAMP: "2026-10-02T11:00:00Z",
        },
        {"id": "#VALUE!", "transaction": "40", LINE_STAMP: "2026-10-02T11:00:00Z"},
        {
            "id": "2",
            "transaction": "40",
            "foreignamount": "-5.00",
            LINE_STAMP: "2026-10-02T11:00:00Z",
        },
    ]
    good, bad, clean = to_raw_records(spec, items)
    assert [r.object_id for r in good] == ["40:1", "40:2"]
    assert good[0].provider_ref == "2026-10-02T11:00:00Z"
    assert LINE_STAMP not in good[0].payload
    assert clean == 1 and len(bad) == 1 and json.loads(bad[0][1])["id"] == "#VALUE!"
    link = TABLES["previoustransactionlinelink"]
    good, _, _ = to_raw_records(
        link,
        [{"previousdoc": 1, "previousline": 0, "nextdoc": 2, "nextline": 0, "linktype": "Payment"}],
    )
    assert object_id(link, good[0].payload) == "1:0:2:0"


def test_incremental_query_is_inclusive_and_ordered_by_stamp_then_key():
    assert overlap_start("2026-10-02T11:00:00Z") == datetime(2026, 10, 1, 11, 0, tzinfo=UTC)
    since = overlap_start("2026-10-02T11:00:00Z", timedelta(minutes=5))
    assert since == datetime(2026, 10, 2, 10, 55, tzinfo=UTC)
    sql = build_query(TABLES["customer"], since=since)
    assert (
        "WHERE lastmodifieddate >= TO_TIMESTAMP('2026-10-02 10:55:00', 'YYYY-MM-DD HH24:MI:SS')"
        in sql
    )
    assert sql.endswith("ORDER BY lastmodifieddate, id")
    line_sql = build_query(TABLES["transactionline"], since=since)
    assert "INNER JOIN transaction t ON t.id = tl.transaction" in line_sql
    assert "t.lastmodifieddate >= TO_TIMESTAMP" in line_sql
    assert build_query(TABLES["account"], min_id=5).endswith("WHERE id >= 5 ORDER BY id")


def test_next_offset_follows_has_more_and_short_pages():
    assert next_offset({"hasMore": False, "count": 1000}, 0, 1000) is None
    assert next_offset({"hasMore": True, "count": 1000}, 0, 1000) == 1000
    assert next_offset({"hasMore": True, "count": 500, "items": []}, 1000, 1000) == 1500
    assert next_offset({"hasMore": True, "items": [{}] * 7}, 0, 1000) == 7


def test_netsuite_error_envelope_is_parsed_and_classified():
    body = {
        "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.30",
        "title": "Too Many Requests",
        "status": 429,
        "o:errorDetails": [
            {"detail": "Concurrency limit exceeded", "o:errorCode": "CONCURRENCY_LIMIT_EXCEEDED"}
        ],
    }
    resp = httpx.Response(429, json=body, headers={"Retry-After": "1"})
    err = parse_error(resp)
    assert err.codes == ["CONCURRENCY_LIMIT_EXCEEDED"] and err.retry_after == 1.0
    assert is_transient(err)
    assert is_transient(ErpHTTPError(503, [], "", 0)) and is_transient(httpx.ReadError("cut"))
    assert not is_transient(ErpHTTPError(400, ["INVALID_PARAMETER"], "bad column", 0))


def test_fast_paths_still_validate():
    cols = ["id", "lastmodifieddate", "trandate"]
    assert normalize_record({"id": "007", "trandate": "2026-10-01"}, cols)["id"] == "7"
    with pytest.raises(RecordInvalid, match="lastmodifieddate"):
        normalize_record({"id": "1", "lastmodifieddate": "2026-02-30T00:00:00Z"}, cols)
    with pytest.raises(RecordInvalid, match="trandate"):
        normalize_record({"id": "1", "trandate": "2026-02-30"}, cols)
