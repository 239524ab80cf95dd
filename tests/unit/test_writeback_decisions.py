"""The write-back's pure decisions: value comparison, grouping and the write-set filter, the diff
against the last push, the winner rules against the live CRM, idempotency keys, backoff."""

from __future__ import annotations

import random

import pytest

from q2c.policy import load_contract
from q2c.writeback.decisions import (
    backoff_seconds,
    changed_fields,
    group_desired,
    idempotency_key,
    is_transient,
    normalize,
    resolve,
)
from q2c.writeback.engine import target_for
from q2c.writeback.flows import ACCOUNT_SYNC, CASE_SYNC
from q2c.writeback.model import CurrentRecord

pytestmark = pytest.mark.unit

CONTRACT = load_contract()
ACCOUNT = target_for(CONTRACT, "Account")
CASE = target_for(CONTRACT, "Case")
INTEGRATION = "005INTEGRATION"
PERSON = "005PERSON"


def row(field: str, value: str | None, crm: str | None = None, cus: str = "cus_1") -> dict:
    return {
        "billing_customer_id": cus,
        "account_id": "001A",
        "field_api_name": field,
        "proposed_value": value,
        "crm_value": crm,
        "source_ref": f"billing:customer:{cus}",
    }


@pytest.mark.parametrize(
    ("a", "b"),
    [("12.50", 12.5), ("100", "100.00"), (True, "true"), ("", None), ("0.00", 0), ("-0", "0")],
)
def test_normalize_makes_api_text_json_and_audit_values_comparable(a: object, b: object) -> None:
    assert normalize(a) == normalize(b)


def test_normalize_keeps_different_values_apart() -> None:
    assert normalize("12.5") != normalize("12.51")
    assert normalize("2026-01-02") == "2026-01-02"
    assert normalize(False) != normalize(None)


def test_fields_outside_the_write_set_are_refused_not_grouped() -> None:
    rows = [row("MRR__c", "10.00"), row("Name", "Evil Corp"), row("ARR__c", "120.00")]
    desired, refused = group_desired(rows, ACCOUNT_SYNC, ACCOUNT)
    assert set(desired["cus_1"].values) == {"MRR__c", "ARR__c"}
    assert [(r.field_api_name, r.value) for r in refused] == [("Name", "Evil Corp")]


def test_never_pushed_fields_change_only_where_the_crm_differs() -> None:
    desired, _ = group_desired([row("MRR__c", "10.00", "10"), row("ARR__c", "120.00", "100")],
                               ACCOUNT_SYNC, ACCOUNT)  # fmt: skip
    assert changed_fields(desired["cus_1"], None) == ["ARR__c"]


def test_a_field_equal_to_the_last_push_is_not_sent_again_even_if_the_extract_is_stale() -> None:
    # the CRM's extracted value is from before our push: neither ours nor a person's edit
    desired, _ = group_desired([row("MRR__c", "10.00", "10.00")], ACCOUNT_SYNC, ACCOUNT)
    assert changed_fields(desired["cus_1"], {"MRR__c": "10"}) == []
    desired, _ = group_desired([row("MRR__c", "10.00", "7.00")], ACCOUNT_SYNC, ACCOUNT)
    # someone (or the stale extract) shows another value: read the CRM before deciding
    assert changed_fields(desired["cus_1"], {"MRR__c": "10"}) == ["MRR__c"]
    desired, _ = group_desired([row("MRR__c", "11.00", "10.00")], ACCOUNT_SYNC, ACCOUNT)
    assert changed_fields(desired["cus_1"], {"MRR__c": "10"}) == ["MRR__c"]


def current(values: dict, by: str) -> CurrentRecord:
    return CurrentRecord("001A", "cus_1", values, by, "2026-11-01T00:00:00.000+0000")


def test_owner_wins_overwrites_a_persons_edit_and_keeps_it_as_the_losing_value() -> None:
    desired, _ = group_desired([row("MRR__c", "10.00", "99")], ACCOUNT_SYNC, ACCOUNT)
    res = resolve(CONTRACT, ACCOUNT, desired["cus_1"], ["MRR__c"],
                  current({"MRR__c": 99}, PERSON), {"MRR__c": "10"}, INTEGRATION)  # fmt: skip
    assert res.payload == {"MRR__c": "10.00"} and res.before == {"MRR__c": 99}
    ((fname, decision, ours, theirs),) = res.conflicts
    assert (fname, decision.losing_value, ours, theirs) == ("MRR__c", "99", "10.00", 99)


def case_rows(value: str) -> list[dict]:
    return [{"case_id": "500A", "field_api_name": "Billing_Priority_Flag__c",
             "proposed_value": value, "crm_value": None, "source_ref": "billing:x"}]  # fmt: skip


def test_human_edit_wins_keeps_a_persons_clear_until_billings_value_changes() -> None:
    desired, _ = group_desired(case_rows("true"), CASE_SYNC, CASE)
    kept = resolve(CONTRACT, CASE, desired["500A"], ["Billing_Priority_Flag__c"],
                   current({"Billing_Priority_Flag__c": False}, PERSON),
                   {"Billing_Priority_Flag__c": "true"}, INTEGRATION)  # fmt: skip
    assert kept.payload == {}
    assert kept.conflicts[0][1].losing_value == "true"  # ours lost, kept for the audit trail
    # our own write last: no person involved, billing's value goes out
    ours = resolve(CONTRACT, CASE, desired["500A"], ["Billing_Priority_Flag__c"],
                   current({"Billing_Priority_Flag__c": False}, INTEGRATION),
                   {"Billing_Priority_Flag__c": "true"}, INTEGRATION)  # fmt: skip
    assert ours.payload == {"Billing_Priority_Flag__c": "true"}


def test_a_record_the_crm_lacks_gets_every_field() -> None:
    desired, _ = group_desired([row("MRR__c", "1.00"), row("ARR__c", "12.00")],
                               ACCOUNT_SYNC, ACCOUNT)  # fmt: skip
    res = resolve(CONTRACT, ACCOUNT, desired["cus_1"], ["MRR__c", "ARR__c"], None, None, None)
    assert res.payload == {"MRR__c": "1.00", "ARR__c": "12.00"}


def test_idempotency_key_depends_on_object_record_values_and_source_only() -> None:
    key = idempotency_key("Account", "cus_1", {"MRR__c": "10.00", "ARR__c": "120"}, "ref")
    assert key == idempotency_key("Account", "cus_1", {"ARR__c": "120.00", "MRR__c": 10}, "ref")
    assert key != idempotency_key("Account", "cus_1", {"MRR__c": "10.01", "ARR__c": "120"}, "ref")
    assert key != idempotency_key("Account", "cus_2", {"MRR__c": "10.00", "ARR__c": "120"}, "ref")
    assert key != idempotency_key("Account", "cus_1", {"MRR__c": "10.00", "ARR__c": "120"}, "x")
    assert key != idempotency_key("Case", "cus_1", {"MRR__c": "10.00", "ARR__c": "120"}, "ref")


def test_lock_errors_are_transient_and_validation_errors_are_not() -> None:
    assert is_transient("UNABLE_TO_LOCK_ROW") and is_transient("UNPROCESSED")
    assert not is_transient("FIELD_CUSTOM_VALIDATION_EXCEPTION")
    assert not is_transient("INVALID_FIELD_FOR_INSERT_UPDATE")


def test_backoff_grows_exponentially_with_full_jitter_and_a_ceiling() -> None:
    rng = random.Random(3)
    waits = [backoff_seconds(n, 2, 300, rng) for n in range(1, 12) for _ in range(50)]
    assert all(0 <= w <= 300 for w in waits)
    assert max(backoff_seconds(1, 2, 300, rng) for _ in range(200)) <= 2
    assert max(backoff_seconds(10, 2, 300, rng) for _ in range(200)) > 100
