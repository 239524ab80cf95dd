"""Compliance holds in the CRM payload, on a copy of the S world's DuckDB build: two connected
accounts are linked to CRM accounts (the S world links none), one with KYC/KYB requirements
due and AML clear, one with an AML hit. After the holds are written and dbt rebuilds the sync
payload, the first account's Payout_Hold_Reason__c names its KYC and KYB holds and nothing of
AML; the AML-held account has no payload row at all (the contract's gate keeps AML out of the
CRM: its fields stay as they are); the holds are in the period report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from q2c.compliance.holds import compute_holds, subjects_from_warehouse, write_holds
from q2c.policy import load_contract
from q2c.policy.model import Contract
from q2c.reports import Period, build_report
from q2c.warehouse import Warehouse
from tests.support.raw_from_world import run_dbt
from tests.support.reports import s_duckdb

pytestmark = pytest.mark.integration

FIELD = "Payout_Hold_Reason__c"


def test_hold_reasons_reach_the_crm_payload_without_aml(
    world_s: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    db = tmp_path / "warehouse.duckdb"
    shutil.copy(s_duckdb(world_s, tmp_path_factory), db)
    url = f"duckdb:///{db}"
    data = load_contract().model_dump()
    data["compliance"]["status_sources"] = {"aml": "ops.aml_screenings"}
    contract = Contract.model_validate(data)
    with Warehouse.from_url(url) as wh:
        crm = [
            r[0]
            for r in wh.fetchall(
                "select account_id from marts.dim_accounts where not is_deleted"
                " and billing_customer_id is not null order by account_id limit 2"
            )
        ]
        due = "past_due_count + currently_due_count"
        unverified = wh.fetchone(
            "select connected_account_id from staging.stg_billing__connected_accounts"
            f" where {due} > 0 order by 1 limit 1"
        )[0]
        hit = wh.fetchone(
            "select connected_account_id from staging.stg_billing__connected_accounts"
            f" where {due} = 0 order by 1 limit 1"
        )[0]
        for account, crm_id in ((unverified, crm[0]), (hit, crm[1])):
            for version, payload in wh.fetchall(
                "select provider_ref, payload from raw.billing__account where object_id = ?",
                [account],
            ):
                body = payload if isinstance(payload, dict) else json.loads(payload)
                body.setdefault("metadata", {})["salesforce_account_id"] = crm_id
                wh.execute(
                    "update raw.billing__account set payload = ?"
                    " where object_id = ? and provider_ref is not distinct from ?",
                    [json.dumps(body), account, version],
                )
        wh.execute("create table ops.aml_screenings (subject_id text, status text)")
        wh.execute(
            "insert into ops.aml_screenings select object_id, 'clear' from raw.billing__account"
            " where object_id <> ?",
            [hit],
        )
        wh.execute("insert into ops.aml_screenings values (?, 'match')", [hit])
        write_holds(wh, compute_holds(contract, subjects_from_warehouse(wh, contract)), "t")
    select = "stg_billing__connected_accounts int_customers__payout_holds"
    run_dbt(
        ["run", "--select", *select.split(), "sync_salesforce_account_fields"],
        url,
        tmp_path / "dbt",
    )
    with Warehouse.from_url(url) as wh:
        payload = {
            (r[0], r[1]): r[2]
            for r in wh.fetchall(
                "select account_id, field_api_name, proposed_value"
                " from sync.sync_salesforce_account_fields"
            )
        }
        report = build_report(wh, contract, Period(2026, 10), run_id="t")
    reason = payload[(crm[0], FIELD)]
    assert reason == (
        "payout_requires_verified_kyb: requirements_due; "
        "payout_requires_verified_kyc: requirements_due"
    )
    assert "aml" not in reason.lower()
    assert not [k for k in payload if k[0] == crm[1]], "an AML-held account is not written"
    assert len({k[0] for k in payload}) > 10  # the other accounts are still in the payload
    shown = {
        (r["subject_id"], r["action"], r["gate"]) for r in report.section("compliance_holds").rows
    }
    assert (unverified, "payout_release", "payout_requires_verified_kyc") in shown
    assert (hit, "writeback", "aml_review_stays_out_of_the_crm") in shown
