"""The ownership filter of the write-back: the write set and each winner rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from q2c.policy import load_contract
from q2c.policy.conflicts import NotInWriteSetError, decide

pytestmark = pytest.mark.unit

CONTRACT = load_contract()


def test_fields_outside_the_write_set_are_refused() -> None:
    with pytest.raises(NotInWriteSetError, match="crm Account.Name is not in"):
        decide(CONTRACT, "crm", "Account", "Name", ours="A", theirs="B")
    with pytest.raises(NotInWriteSetError):
        decide(CONTRACT, "support", "Account", "MRR__c", ours="1", theirs="2")


def test_billing_wins_on_financial_state_and_the_crm_value_is_kept() -> None:
    d = decide(
        CONTRACT,
        "crm",
        "Account",
        "MRR__c",
        ours="120.00",
        theirs="99.00",
        last_pushed="110.00",
        theirs_by_person=True,
    )
    assert (d.write, d.value, d.losing_value, d.keep_losing_value) == (
        True,
        "120.00",
        "99.00",
        True,
    )
    assert (d.field_id, d.rule) == ("account.mrr", "owner_wins")


def test_equal_values_write_nothing() -> None:
    d = decide(CONTRACT, "crm", "Account", "Billing_Status__c", ours="active", theirs="active")
    assert not d.write and d.losing_value is None


def test_a_person_clearing_the_priority_flag_wins_until_dunning_changes() -> None:
    kept = decide(
        CONTRACT,
        "support",
        "Case",
        "Billing_Priority_Flag__c",
        ours=True,
        theirs=False,
        last_pushed=True,
        theirs_by_person=True,
    )
    assert (kept.write, kept.losing_value, kept.rule) == (False, True, "human_edit_wins")
    # the account left dunning and entered it again: the owner's value changed, write again
    again = decide(
        CONTRACT,
        "support",
        "Case",
        "Billing_Priority_Flag__c",
        ours=True,
        theirs=False,
        last_pushed=False,
        theirs_by_person=True,
    )
    assert (again.write, again.value) == (True, True)
    # the integration user's own value drifted (not a person): the owner's value is restored
    drift = decide(
        CONTRACT,
        "support",
        "Case",
        "Billing_Priority_Flag__c",
        ours=True,
        theirs=False,
        last_pushed=True,
        theirs_by_person=False,
    )
    assert drift.write


def test_flag_for_review_never_writes(tmp_path: Path) -> None:
    from q2c.policy.loader import REPO_CONTRACT

    text = REPO_CONTRACT.read_text().replace(
        "resolution: {winner: owner_wins, keep_losing_value: true, reason: Billing wins on "
        "financial state; a CRM edit is overwritten and kept in the audit trail.}",
        "resolution: {winner: flag_for_review, keep_losing_value: true, reason: Finance "
        "checks MRR by hand this quarter.}",
    )
    path = tmp_path / "ownership.yml"
    path.write_text(text)
    d = decide(load_contract(path), "crm", "Account", "MRR__c", ours="1.00", theirs="2.00")
    assert (d.write, d.rule) == (False, "flag_for_review")
