"""normalize_record(): REST JSON and Bulk CSV of the same record give the same payload."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from extractors.salesforce.errors import RecordInvalid
from extractors.salesforce.extract import to_raw_records
from extractors.salesforce.normalize import (
    FieldSpec,
    field_specs,
    normalize_record,
    parse_datetime,
    selectable_fields,
)
from q2c.landing import payload_hash

pytestmark = pytest.mark.unit

FIXTURES = Path("/work/shared/reference/salesforce/restforce-fixtures")

SPECS = {
    s.name: s
    for s in [
        FieldSpec("Id", "id"),
        FieldSpec("IsDeleted", "boolean"),
        FieldSpec("Name", "string"),
        FieldSpec("SystemModstamp", "datetime"),
        FieldSpec("MRR__c", "currency", scale=2),
        FieldSpec("Probability", "percent", scale=0),
        FieldSpec("NumberOfEmployees", "int"),
        FieldSpec("Last_Payment_Date__c", "date"),
        FieldSpec("Description", "textarea"),
        FieldSpec("Billing_Status__c", "picklist"),
    ]
}

REST_RECORD = {
    "attributes": {"type": "Account", "url": "/services/data/v59.0/sobjects/Account/001x"},
    "Id": "001000000000001AAA",
    "IsDeleted": False,
    "Name": 'Acme, "Ltd"',
    "SystemModstamp": "2026-10-01T12:34:56.000+0000",
    "MRR__c": Decimal("1234.5"),
    "Probability": Decimal("10"),
    "NumberOfEmployees": 250,
    "Last_Payment_Date__c": "2026-09-30",
    "Description": "line one\nline two",
    "Billing_Status__c": None,
}

BULK_CSV = (
    '"Id","IsDeleted","Name","SystemModstamp","MRR__c","Probability","NumberOfEmployees",'
    '"Last_Payment_Date__c","Description","Billing_Status__c"\n'
    '"001000000000001AAA","false","Acme, ""Ltd""","2026-10-01T12:34:56.000Z","1234.5","10",'
    '"250","2026-09-30","line one\nline two",""\n'
)


def bulk_row() -> dict[str, str]:
    return next(csv.DictReader(io.StringIO(BULK_CSV, newline="")))


def test_rest_and_bulk_shapes_normalize_to_the_same_payload_and_hash():
    rest = normalize_record(REST_RECORD, SPECS)
    bulk = normalize_record(bulk_row(), SPECS)
    assert rest == bulk
    assert payload_hash(rest) == payload_hash(bulk)


def test_normalized_values_follow_the_landing_contract():
    out = normalize_record(bulk_row(), SPECS)
    assert "attributes" not in out
    assert out["IsDeleted"] is False
    assert out["MRR__c"] == "1234.50"  # padded to the field's scale, a string, not a float
    assert out["Probability"] == "10"
    assert out["NumberOfEmployees"] == 250
    assert out["SystemModstamp"] == "2026-10-01T12:34:56.000Z"
    assert out["Billing_Status__c"] is None  # empty CSV cell is null
    assert out["Description"] == "line one\nline two"


def test_json_floats_are_not_formatted_from_their_binary_value():
    out = normalize_record({"Id": "001A", "MRR__c": 0.1 + 0.2}, SPECS)
    assert out["MRR__c"] == "0.30000000000000004"  # exact repr, never rounded silently
    out = normalize_record({"Id": "001A", "MRR__c": 19.9}, SPECS)
    assert out["MRR__c"] == "19.90"


def test_more_decimals_than_the_scale_are_kept_not_rounded():
    out = normalize_record({"Id": "001A", "MRR__c": "10.005"}, SPECS)
    assert out["MRR__c"] == "10.005"


def test_datetime_offsets_are_converted_to_utc():
    out = normalize_record({"Id": "001A", "SystemModstamp": "2026-10-01T02:00:00.5-0130"}, SPECS)
    assert out["SystemModstamp"] == "2026-10-01T03:30:00.500Z"
    assert parse_datetime("2026-10-01T03:30:00+00:00") == parse_datetime("2026-10-01T03:30:00Z")


def test_boolean_strings_from_bulk():
    assert normalize_record({"Id": "001A", "IsDeleted": "true"}, SPECS)["IsDeleted"] is True
    assert normalize_record({"Id": "001A", "IsDeleted": "false"}, SPECS)["IsDeleted"] is False


def test_unknown_fields_are_kept_as_strings():
    out = normalize_record({"Id": "001A", "New_Field__c": "x"}, SPECS)
    assert out["New_Field__c"] == "x"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("MRR__c", "twelve"),
        ("MRR__c", "NaN"),
        ("IsDeleted", "maybe"),
        ("NumberOfEmployees", "2.5"),
        ("SystemModstamp", "yesterday"),
        ("Last_Payment_Date__c", "30/09/2026"),
    ],
)
def test_values_that_do_not_parse_raise_record_invalid_naming_the_field(field, value):
    with pytest.raises(RecordInvalid, match=field):
        normalize_record({"Id": "001A", field: value}, SPECS)


def test_record_without_id_is_invalid():
    with pytest.raises(RecordInvalid, match="no Id"):
        normalize_record({"Name": "x"}, SPECS)


def test_to_raw_records_splits_good_from_bad_and_marks_tombstones():
    records = [
        dict(REST_RECORD),
        {**REST_RECORD, "Id": "001000000000002AAA", "IsDeleted": True},
        {**REST_RECORD, "Id": "001000000000003AAA", "MRR__c": "oops"},
        {**REST_RECORD, "Id": "001000000000004AAA"},
    ]
    good, bad, clean = to_raw_records(records, SPECS)
    assert clean == 2  # two good records came before the first bad one
    assert [r.object_id for r in good][:2] == ["001000000000001AAA", "001000000000002AAA"]
    assert [r.is_deleted for r in good] == [False, True, False]
    assert good[0].provider_ref == "2026-10-01T12:34:56.000Z"
    assert len(bad) == 1
    reason, raw = bad[0]
    assert "MRR__c" in reason and "oops" not in reason  # the reason carries no values
    assert json.loads(raw)["Id"] == "001000000000003AAA"


def test_field_specs_from_a_real_describe_response_and_compound_fields_skipped():
    describe = json.loads((FIXTURES / "sobject/sobject_describe_success_response.json").read_text())
    specs = field_specs(describe)
    assert specs["Id"].type == "id"
    describe["fields"].append({"name": "BillingAddress", "type": "address"})
    assert "BillingAddress" not in selectable_fields(field_specs(describe))
    assert "Id" in selectable_fields(specs)
