"""Input checks report, gates block: breaking an input check by hand (a CRM picklist value the
contract does not know, an ERP posting to a GL account the ERP chart lacks) still builds the
marts and rec_breaks, lists each bad row as a data-quality finding, and holds only the records
of the flows that read the broken system (the rest of each batch goes), with the reason in
reconciliation.gate_holds and the decision.

The S warehouse the reconciliation tests build (tests/support/raw_from_world.py) is copied, two
raw rows get a newer, broken version, and dbt builds it again.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestration.gates import FLOW_MODELS, read_batch
from q2c.gates import evaluate_gate, record_gate_decision
from q2c.policy import default_contract
from q2c.warehouse import Warehouse
from tests.support.raw_from_world import built_warehouse, run_dbt

pytestmark = pytest.mark.integration

ACCOUNT_FINDING = "accepted_values:stg_salesforce__accounts.currency"
GL_FINDING = "relationships:stg_erp__transaction_lines.erp_account_id"
CHART_FINDING = "in_contract_chart_of_accounts:stg_erp__transaction_lines.erp_account_id"


def _land_broken_version(
    wh: Warehouse, table: str, key: str, value: str, where: str = "true"
) -> str:
    """Land a newer version of the first row of `raw.<table>` (matching `where`) with
    `payload[key] = value`."""
    object_id, payload = wh.fetchone(
        f"select object_id, cast(payload as varchar) from raw.{table} where {where} "
        "order by object_id limit 1"
    )
    body = json.loads(payload)
    body[key] = value
    wh.execute(
        f"insert into raw.{table} (object_id, provider_ref, payload, payload_hash, is_deleted, "
        "extracted_at, run_id) values (?, null, ?, ?, false, ?, 'broken-by-hand')",
        [object_id, json.dumps(body), f"broken-{object_id}", datetime.now(UTC)],
    )
    return object_id


def _clean_s(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The S warehouse the reconciliation tests build (shared within the session)."""
    root = tmp_path_factory.getbasetemp() / "dbt_s_duckdb"
    built_warehouse(world_s, f"duckdb:///{root / 'warehouse.duckdb'}", root / "dbt")
    return root / "warehouse.duckdb"


def test_the_clean_s_world_has_no_findings(
    world_s: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with Warehouse.from_url(f"duckdb:///{_clean_s(world_s, tmp_path_factory)}") as wh:
        assert wh.fetchall("select check_name, object_id from reconciliation.dq_findings") == []
        assert wh.fetchone(
            "select count(*) from reconciliation.rec_breaks where break_kind = 'data_quality'"
        ) == (0,)


@pytest.fixture(scope="module")
def broken_warehouse(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("findings")
    db = work / "warehouse.duckdb"
    shutil.copy(_clean_s(world_s, tmp_path_factory), db)
    url = f"duckdb:///{db}"
    with Warehouse.from_url(url) as wh:
        # an Account the enrichment writes, with cases: its finding holds records of both flows
        account = _land_broken_version(
            wh, "salesforce__account", "CurrencyIsoCode", "XTS",
            "object_id in (select account_id from sync.sync_salesforce_account_fields) and "
            "object_id in (select account_id from sync.sync_salesforce_case_fields)",
        )  # fmt: skip
        line = _land_broken_version(wh, "erp__transactionline", "account", "99999")
    # what reads the two broken sources, and everything downstream of it (the rest of the copy
    # is the session's build of the same inputs); dbt's unit tests are fixed inputs, run once
    # by the S build of tests/support
    changed = ["source:salesforce.account+", "source:erp.transactionline+"]
    code, out = run_dbt(
        ["build", "--select", *changed, "--exclude-resource-type", "unit_test"],
        url,
        work / "dbt",
        check=False,
    )
    return {"url": url, "code": code, "out": out, "account": account, "line": line, "home": work}


def test_a_failing_input_check_warns_and_leaves_the_reconciliation_built(
    broken_warehouse: dict,
) -> None:
    assert broken_warehouse["code"] == 0, broken_warehouse["out"][-4000:]
    assert "WARN" in broken_warehouse["out"]
    with Warehouse.from_url(broken_warehouse["url"]) as wh:
        findings = wh.fetchall(
            "select check_name, system, object_id, offending_value from "
            "reconciliation.dq_findings order by check_name"
        )
        dq_breaks = wh.fetchall(
            "select source_object_id, match_method from reconciliation.rec_breaks "
            "where break_kind = 'data_quality' order by 1"
        )
        (accounts,) = wh.fetchone("select count(*) from marts.dim_accounts")
        (other_breaks,) = wh.fetchone(
            "select count(*) from reconciliation.rec_breaks where break_kind <> 'data_quality'"
        )
    assert (ACCOUNT_FINDING, "crm", broken_warehouse["account"], "xts") in findings
    assert [f for f in findings if f[1] == "erp"] == [
        (CHART_FINDING, "erp", broken_warehouse["line"], "99999"),
        (GL_FINDING, "erp", broken_warehouse["line"], "99999"),
    ]
    assert len(dq_breaks) == len(findings)
    assert {method for _, method in dq_breaks} == {"data_quality"}
    assert accounts > 0 and other_breaks > 0


def test_a_finding_holds_only_the_records_it_concerns_and_the_rest_goes(
    broken_warehouse: dict,
) -> None:
    contract = default_contract()
    decisions = {}
    with Warehouse.from_url(broken_warehouse["url"]) as wh:
        for flow, (schema, table) in FLOW_MODELS.items():
            decisions[flow] = evaluate_gate(
                flow,
                read_batch(wh, schema, table),
                contract=contract,
                run_id="broken-inputs",
                warehouse=wh,
                home=broken_warehouse["home"],
            )
            record_gate_decision(wh, decisions[flow])
        (customer,) = wh.fetchone(
            "select distinct billing_customer_id from sync.sync_salesforce_account_fields "
            "where account_id = ?",
            [broken_warehouse["account"]],
        )
        cases = {
            r[0]
            for r in wh.fetchall(
                "select case_id from sync.sync_salesforce_case_fields where account_id = ?",
                [broken_warehouse["account"]],
            )
        }
        recorded = dict(
            wh.fetchall(
                "select flow, held_count from ops.gate_decisions where run_id = 'broken-inputs'"
            )
        )

    def of_the_account(reasons: tuple[str, ...]) -> bool:
        return any(
            r.startswith("open break data_quality on crm ")
            and r.endswith(f" {broken_warehouse['account']}")
            for r in reasons
        )

    # the CRM finding holds that Account's records; the ERP line's finding is on no record
    # the export carries (an ERP posting of the ERP's own): nothing of it is held
    assert list(decisions["crm_account_sync"].held) == [customer]
    assert of_the_account(decisions["crm_account_sync"].held[customer])
    assert set(decisions["crm_case_sync"].held) == cases
    assert all(map(of_the_account, decisions["crm_case_sync"].held.values()))
    assert decisions["erp_export"].held == {}
    for flow in ("erp_export", "crm_account_sync", "crm_case_sync"):
        assert decisions[flow].passed, decisions[flow].reasons  # the rest of each batch goes
    assert recorded["crm_account_sync"] == 1 and recorded["crm_case_sync"] == len(cases)
    # the automations gate (the support_enrichment automation's own flow, in phase
    # automation) holds the same cases for the finding; its phase refuses nothing
    # (and, with no person in the loop, cases of accounts whose CRM billing status is stale)
    automated = decisions["automations"].held
    assert cases <= set(automated) and all(of_the_account(automated[c]) for c in cases)
    assert not [r for r in decisions["automations"].reasons if r.startswith("rollout phase")]
