"""The stand-ins serve a messy world in the vendors' documented shapes: Salesforce `describe`
lists the org's custom fields under its own names with its picklist labels, SOQL answers
them, the ERP answers plain dates in the account's date preference, and the environment
points the pipeline at the company's own contract. A default world served by the same
process keeps the shipped org."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extractors.erp import ErpCredentials, SuiteQLClient
from extractors.salesforce import RetrySettings, SalesforceClient, SalesforceCredentials
from sandbox.world import SCALES, generate
from sandbox.world.profiles import MESSY, profile_of_world

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sandboxes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """(messy XS sandbox, default XS sandbox), both served in this process."""
    from sandbox.services import start_services

    root = tmp_path_factory.mktemp("messy_sandbox")
    generate(root / "messy", seed=3, scale=SCALES["XS"], profile="messy")
    generate(root / "default", seed=3, scale=SCALES["XS"])
    messy = start_services(root / "messy", None, root / "state_messy")
    try:
        default = start_services(
            root / "default", None, root / "state_default", services=("salesforce",)
        )
        try:
            yield messy, default
        finally:
            default.stop()
    finally:
        messy.stop()


def sf_client(env: dict[str, str]) -> SalesforceClient:
    return SalesforceClient(
        SalesforceCredentials(
            login_url=env["Q2C_SALESFORCE_LOGIN_URL"],
            client_id=env["Q2C_SALESFORCE_CLIENT_ID"],
            client_secret=env["Q2C_SALESFORCE_CLIENT_SECRET"],
            username=env["Q2C_SALESFORCE_USERNAME"],
            password=env["Q2C_SALESFORCE_PASSWORD"],
            ca_bundle=env["Q2C_SALESFORCE_CA_BUNDLE"],
        ),
        retry=RetrySettings(base_wait=0.01, max_wait=0.05),
    )


def fields_of(env: dict[str, str], sobject: str) -> dict[str, dict[str, Any]]:
    client = sf_client(env)
    return {f["name"]: f for f in client.describe(sobject)["fields"]}


def test_the_environment_names_the_messy_companys_contract(sandboxes: tuple[Any, Any]) -> None:
    messy, default = sandboxes
    assert messy.env["Q2C_POLICY_FILE"] == str(MESSY.contract)
    assert Path(messy.env["Q2C_POLICY_FILE"]).is_file()
    assert "Q2C_POLICY_FILE" not in default.env


def test_describe_lists_the_orgs_custom_fields_under_their_names(
    sandboxes: tuple[Any, Any],
) -> None:
    messy, default = sandboxes
    account = fields_of(messy.env, "Account")
    assert "Stripe_Customer__c" in account and "Billing_Customer_Id__c" not in account
    assert account["Stripe_Customer__c"]["externalId"] and account["Stripe_Customer__c"]["custom"]
    assert "Billing_Status__c" not in account and "MRR__c" not in account
    statuses = {v["value"] for v in account["Subscription_Status__c"]["picklistValues"]}
    assert {"Past Due", "Cancelled", "Active"} <= statuses and "past_due" not in statuses
    stages = {
        v["value"] for v in fields_of(messy.env, "Opportunity")["StageName"]["picklistValues"]
    }
    assert "5 - Closed Won" in stages
    assert "Stripe_Subscription__c" in fields_of(messy.env, "Opportunity")
    # the default world, served by the same process at the same time, keeps the shipped org
    shipped = fields_of(default.env, "Account")
    assert "Billing_Customer_Id__c" in shipped and "Stripe_Customer__c" not in shipped


def test_soql_answers_the_orgs_fields_and_labels(sandboxes: tuple[Any, Any]) -> None:
    messy, _ = sandboxes
    client = sf_client(messy.env)
    soql = (
        "SELECT Id, Stripe_Customer__c, Subscription_Status__c FROM Account"
        " WHERE Stripe_Customer__c != null"
    )
    records = [r for page in client.query_pages(soql) for r in page["records"]]
    assert records
    assert all(r["Stripe_Customer__c"].startswith("cus_") for r in records)
    labels = {(r["Subscription_Status__c"] or "").strip().lower() for r in records}
    assert labels & {"active", "past due", "cancelled", "unpaid", "trialing"}
    assert not labels & {"past_due", "canceled"}


def test_suiteql_answers_plain_dates_in_the_accounts_date_preference(
    sandboxes: tuple[Any, Any],
) -> None:
    messy, _ = sandboxes
    env = messy.env
    credentials = ErpCredentials(base_url=env["Q2C_ERP_BASE_URL"], token=env["Q2C_ERP_TOKEN"])
    client = SuiteQLClient(credentials)
    try:
        page = client.fetch("SELECT id, trandate FROM transaction ORDER BY id", limit=20)
    finally:
        client.close()
    dates = [item["trandate"] for item in page["items"]]
    assert dates
    # D.M.YYYY: day and month without leading zeros, as NetSuite's preference shows them
    assert all(re.fullmatch(r"[1-9]\d?\.[1-9]\d?\.\d{4}", d) for d in dates), dates[:5]


def test_cli_up_profile_messy_generates_it_and_names_its_contract(tmp_path: Path) -> None:
    from tests.integration.test_sandbox_runner import processes_in_group, q2c

    root = tmp_path / "sb"
    up = q2c("up", "--json", "--dir", str(root), "--profile", "messy", "--services", "erp")
    env = json.loads(up.stdout)
    pid = json.loads((root / "state.json").read_text())["pid"]
    try:
        assert env["Q2C_POLICY_FILE"] == str(MESSY.contract)
        assert f"Q2C_POLICY_FILE={MESSY.contract}\n" in (root / "sandbox.env").read_text()
        assert profile_of_world(root / "world") is MESSY
        status = json.loads(q2c("status", "--json", "--dir", str(root)).stdout)
        assert status["world"]["profile"] == "messy"
        refused = q2c("advance", "--days", "1", "--dir", str(root), check=False)
        assert refused.returncode != 0 and "default-profile" in refused.stdout + refused.stderr
    finally:
        q2c("down", "--dir", str(root))
    assert processes_in_group(pid) == []
