"""The contract's company mapping: value maps, link fields, matching; defaults and checks."""

from __future__ import annotations

import pytest

from q2c.policy import load_contract
from q2c.policy.dbt_seeds import mapping_vars
from q2c.policy.errors import ContractError
from q2c.policy.loader import REPO_CONTRACT
from q2c.policy.model import CompanyMapping, ValueMap, normalize_value

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("label", ["Past Due", " PAST_DUE ", "past-due", "past__due"])
def test_labels_in_other_case_and_spacing_normalize_to_one_key(label: str) -> None:
    assert normalize_value(label) == "past due"


def test_canonical_words_map_to_themselves_and_labels_to_their_word() -> None:
    table = ValueMap(values={"Cancelled": "canceled"}).lookup(("canceled", "past_due"))
    assert table == {"canceled": "canceled", "cancelled": "canceled", "past due": "past_due"}


def test_a_case_sensitive_map_keeps_case() -> None:
    table = ValueMap(values={"Won": "closed_won"}, case_insensitive=False).lookup(("open",))
    assert table == {"open": "open", "Won": "closed_won"}


def test_a_contract_without_mapping_takes_the_defaults() -> None:
    text = REPO_CONTRACT.read_text()
    without = text[: text.index("\nmapping:")] + "\n"
    contract = load_contract(REPO_CONTRACT, text=without)
    assert contract.mapping == CompanyMapping()
    assert mapping_vars(contract) == mapping_vars(load_contract())


def test_a_label_mapped_to_an_unknown_word_is_a_located_error() -> None:
    text = REPO_CONTRACT.read_text().replace("Overdue: past_due", "Overdue: late")
    with pytest.raises(ContractError) as err:
        load_contract(REPO_CONTRACT, text=text)
    assert "'late' is not a canonical billing_status word" in str(err.value)


def test_other_field_names_reach_the_dbt_vars() -> None:
    text = REPO_CONTRACT.read_text().replace("Billing_Customer_Id__c", "Stripe_Customer__c")
    decided = mapping_vars(load_contract(REPO_CONTRACT, text=text))
    assert decided["q2c_links"]["customer_account"]["crm_field"] == "Stripe_Customer__c"
    assert decided["q2c_crm_custom_fields"]["account.billing_customer_id"] == "Stripe_Customer__c"


def test_a_link_field_the_entity_map_does_not_name_is_a_located_error() -> None:
    text = REPO_CONTRACT.read_text().replace(
        "crm_field: Billing_Customer_Id__c}", "crm_field: Stripe_Customer__c}"
    )
    with pytest.raises(ContractError) as err:
        load_contract(REPO_CONTRACT, text=text)
    assert "is not the field the entity map names for account.billing_customer_id" in str(err.value)
