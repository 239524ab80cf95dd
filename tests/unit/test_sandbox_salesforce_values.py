"""Pure parts of the Salesforce stand-in: field value validation (REST JSON and Bulk CSV),
case-safe ids, describe labels and versions, and fault triggers."""

from __future__ import annotations

import pytest

from sandbox.salesforce.describe import supported_version, versions
from sandbox.salesforce.faults import FaultError, Faults
from sandbox.salesforce.org import ORG, id18, normalize_id
from sandbox.salesforce.writes import UNCHANGED, RowFailure, coerce

pytestmark = pytest.mark.unit


def field(obj: str, name: str):  # noqa: ANN201 - a schema Field
    found = ORG.get(obj).field(name)  # type: ignore[union-attr]
    assert found is not None
    return found


def error_code(obj: str, name: str, value: object, *, text: bool) -> str:
    with pytest.raises(RowFailure) as err:
        coerce(field(obj, name), value, text=text)
    return err.value.error.code


def test_case_safe_ids_follow_salesforces_checksum() -> None:
    assert id18("001D000000IqhSL") == "001D000000IqhSLIAZ"
    assert normalize_id("001D000000IqhSL") == "001D000000IqhSLIAZ"
    assert normalize_id("001D000000IqhSLIAZ") == "001D000000IqhSLIAZ"
    assert normalize_id("not-an-id") is None


def test_currency_is_rounded_to_its_scale_and_checked_against_precision() -> None:
    mrr = field("Account", "MRR__c")
    assert coerce(mrr, 10.005, text=False) == 10.01  # half up, as Salesforce rounds
    assert coerce(mrr, "1234.5", text=True) == 1234.5
    assert coerce(mrr, 7, text=False) == 7.0
    assert error_code("Account", "MRR__c", 10**15, text=False) == "NUMBER_OUTSIDE_VALID_RANGE"
    assert error_code("Account", "MRR__c", "12,5", text=True) == "INVALID_TYPE_ON_FIELD_IN_RECORD"
    assert coerce(mrr, "12.50", text=False) == 12.5  # Salesforce's JSON reader is lenient
    assert error_code("Account", "MRR__c", "twelve", text=False) == "JSON_PARSER_ERROR"
    assert error_code("Account", "MRR__c", True, text=False) == "JSON_PARSER_ERROR"


def test_csv_empty_means_unchanged_and_na_means_null() -> None:
    name = field("Account", "Name")
    assert coerce(name, "", text=True) is UNCHANGED
    assert coerce(name, "#N/A", text=True) is None
    assert coerce(name, "Acme", text=True) == "Acme"


def test_text_length_email_booleans_dates_and_datetimes() -> None:
    assert error_code("Account", "Name", "x" * 256, text=False) == "STRING_TOO_LONG"
    assert coerce(field("Account", "Name"), "x" * 255, text=False) == "x" * 255
    assert error_code("Contact", "Email", "nope", text=False) == "INVALID_EMAIL_ADDRESS"
    flag = field("Case", "Billing_Priority_Flag__c")
    assert coerce(flag, "TRUE", text=True) is True and coerce(flag, "0", text=True) is False
    assert error_code("Case", "Billing_Priority_Flag__c", "yes", text=True).startswith("INVALID")
    assert coerce(flag, "true", text=False) is True
    assert error_code("Case", "Billing_Priority_Flag__c", "yes", text=False) == (
        "JSON_PARSER_ERROR"
    )
    day = field("Opportunity", "CloseDate")
    assert coerce(day, "2026-02-28", text=False) == "2026-02-28"
    assert error_code("Opportunity", "CloseDate", "2026-02-30", text=False) == "JSON_PARSER_ERROR"
    assert error_code("Opportunity", "CloseDate", "28/02/2026", text=True).startswith("INVALID")
    stamp = field("Account", "CreatedDate")
    assert coerce(stamp, "2026-01-01T10:00:00+02:00", text=False) == (
        "2026-01-01T08:00:00.000+0000"
    )
    assert coerce(stamp, "2026-01-01T10:00:00.5Z", text=False) == "2026-01-01T10:00:00.500+0000"


def test_references_must_be_ids() -> None:
    owner = field("Account", "OwnerId")
    assert coerce(owner, "005D000000IqhSL", text=False) == id18("005D000000IqhSL")
    assert error_code("Account", "OwnerId", "bob", text=False) == "MALFORMED_ID"


def test_versions_carry_release_labels() -> None:
    listed = {v["version"]: v["label"] for v in versions()}
    assert listed["20.0"] == "Winter '11"
    assert listed["62.0"] == "Winter '25"
    assert listed["60.0"] == "Spring '24"
    assert supported_version("62.0") and not supported_version("62") and not supported_version(
        "12.0")  # fmt: skip


def test_count_triggers_fire_exactly_n_times_and_respect_the_path() -> None:
    faults = Faults({"server_error": {"count": 2, "path": "/query"}})
    assert faults.fire("server_error", "/services/data/v62.0/sobjects") is None
    assert faults.fire("server_error", "/services/data/v62.0/query") is not None
    assert faults.snapshot()["server_error"]["count"] == 1
    assert faults.fire("server_error", "/services/data/v62.0/query") is not None
    assert faults.fire("server_error", "/services/data/v62.0/query") is None
    assert faults.snapshot() == {}


def test_rate_triggers_are_seeded() -> None:
    def run() -> list[bool]:
        f = Faults({"seed": 11, "slow": {"rate": 0.3, "seconds": 0}})
        return [f.fire("slow") is not None for _ in range(200)]

    first = run()
    assert first == run()
    assert 30 < sum(first) < 90


@pytest.mark.parametrize(
    "bad",
    [
        {"nonsense": {"count": 1}},
        {"slow": {"seconds": 1}},
        {"slow": {"count": -1}},
        {"slow": {"rate": 2}},
        {"slow": {"count": 1, "colour": "red"}},
        {"daily_api_limit": "many"},
    ],
)
def test_bad_fault_specs_are_refused_with_a_reason(bad: dict) -> None:
    faults = Faults({"seed": 1})
    with pytest.raises(FaultError):
        faults.update(bad)
    assert faults.snapshot() == {"seed": 1}  # nothing changed
