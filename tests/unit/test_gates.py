"""Output gates (q2c.gates): the Great Expectations suite refuses what must not leave, and a
kill switch or a read_only phase stops only its own flow.

Each test starts from batches the gate accepts and a warehouse whose rec_verdict holds, then
breaks one thing and checks that exactly that flow is refused, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from q2c.gates import FLOWS, decisions_of_run, evaluate_gate, record_gate_decision
from q2c.policy import default_contract, pause
from q2c.policy.model import Contract
from q2c.warehouse import Warehouse

pytestmark = pytest.mark.unit


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    """A DuckDB warehouse whose rec_verdict holds every phase (one passing row each)."""
    wh = Warehouse.from_url(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    wh.ensure_schema("reconciliation")
    wh.execute(
        "create table reconciliation.rec_verdict as select * from (values "
        "('controlled_writes|break_rate_bps||', 'controlled_writes', 'break_rate_bps', "
        "null, null, 200, 10, true), "
        "('automation|break_rate_bps||', 'automation', 'break_rate_bps', null, null, 50, 10, true)"
        ") as t(threshold_id, phase, metric, currency, break_kind, max_value, measured_value, "
        "is_passing)"
    )
    wh.execute(
        "create table reconciliation.dq_findings (finding_id varchar, check_name varchar, "
        "system varchar, object_id varchar)"
    )
    yield wh
    wh.close()


def erp_batch() -> pd.DataFrame:
    """Two balanced entries: an invoice (AR debit / revenue credit) and a payment."""
    rows = [
        ("q2c:invoice:in_1", 1, "1200", "accounts_receivable", 12000, 0, "invoice"),
        ("q2c:invoice:in_1", 2, "4000", "revenue", 0, 12000, "invoice"),
        ("q2c:payment:ch_1", 1, "1300", "stripe_clearing", 12000, 0, "payment"),
        ("q2c:payment:ch_1", 2, "1200", "accounts_receivable", 0, 12000, "payment"),
    ]
    return pd.DataFrame(
        [
            {
                "external_id": entry,
                "line_external_id": f"{entry}:{line}",
                "source_ref": "billing:invoice:in_1",
                "currency": "USD",
                "account": account,
                "entry_kind": kind,
                "currency_code": "usd",
                "account_role": role,
                "debit_minor": debit,
                "credit_minor": credit,
            }
            for entry, line, account, role, debit, credit, kind in rows
        ]
    )


def account_batch(fields: tuple[str, ...] = ("MRR__c", "Billing_Status__c")) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "account_field_id": f"001A|{field}",
                "account_id": "001A",
                "match_on": "Billing_Customer_Id__c",
                "field_api_name": field,
                "proposed_value": "100.00",
            }
            for field in fields
        ]
    )


def case_batch() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "case_field_id": "500A|Billing_Priority_Flag__c",
                "case_id": "500A",
                "match_on": "Id",
                "field_api_name": "Billing_Priority_Flag__c",
                "proposed_value": "true",
            }
        ]
    )


def batches() -> dict[str, pd.DataFrame]:
    return {
        "erp_export": erp_batch(),
        "crm_account_sync": account_batch(),
        "crm_case_sync": case_batch(),
        "automations": case_batch(),
    }


def with_phases(contract: Contract, **phases: str) -> Contract:
    """`contract` with the rollout phase of some flows changed."""
    rollout = {
        name: flow.model_copy(update={"phase": phases.get(name, flow.phase)})
        for name, flow in contract.rollout.items()
    }
    return contract.model_copy(update={"rollout": rollout})


def decide_all(contract: Contract, warehouse: Warehouse, home: Path, **changed: pd.DataFrame):
    return {
        flow: evaluate_gate(
            flow,
            changed.get(flow, batch),
            contract=contract,
            run_id="run-1",
            warehouse=warehouse,
            home=home,
        )
        for flow, batch in batches().items()
    }


@pytest.fixture
def open_contract() -> Contract:
    """The shipped contract with every write flow in automation: every gate can pass."""
    return with_phases(
        default_contract(),
        crm_account_enrichment="automation",
        support_case_priority="automation",
        erp_journal_export="automation",
    )


def test_every_gate_passes_clean_batches(
    open_contract: Contract, warehouse: Warehouse, tmp_path: Path
) -> None:
    decisions = decide_all(open_contract, warehouse, tmp_path)
    assert {f: d.reasons for f, d in decisions.items()} == {f: () for f in FLOWS}
    assert all(d.passed and d.validation_id for d in decisions.values())
    kept = tmp_path / "gates" / "run-1"
    assert sorted(p.name for p in kept.iterdir()) == sorted(
        f"{flow}.{ext}" for flow in FLOWS for ext in ("html", "json")
    )


def test_an_unbalanced_entry_is_refused(
    open_contract: Contract, warehouse: Warehouse, tmp_path: Path
) -> None:
    batch = erp_batch()
    batch.loc[1, "credit_minor"] = 11999  # the invoice entry is off by one cent
    decision = evaluate_gate(
        "erp_export", batch, contract=open_contract, run_id="r", warehouse=warehouse, home=tmp_path
    )
    assert not decision.passed
    assert decision.reasons == (
        "batch: every journal entry balances (debits = credits in minor units): 2 of 4 rows",
    )


def test_a_field_outside_the_write_set_is_refused(
    open_contract: Contract, warehouse: Warehouse, tmp_path: Path
) -> None:
    decisions = decide_all(
        open_contract, warehouse, tmp_path, crm_account_sync=account_batch(("MRR__c", "Name"))
    )
    assert not decisions["crm_account_sync"].passed
    assert decisions["crm_account_sync"].reasons == (
        "batch: field_api_name is in the write set of crm_account_enrichment: 1 of 2 rows (Name)",
    )
    assert all(d.passed for f, d in decisions.items() if f != "crm_account_sync")


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("account", "9999", "account is a GL number of the contract's chart of accounts"),
        ("currency_code", "jpy", "currency_code is one the ERP banks (contract chart of"),
        ("debit_minor", 10**12, "debit_minor between 0 and the contract's max_amount_minor"),
    ],
)
def test_erp_lines_outside_the_contract_are_refused(
    open_contract: Contract,
    warehouse: Warehouse,
    tmp_path: Path,
    column: str,
    value: object,
    reason: str,
) -> None:
    batch = erp_batch()
    batch.loc[2, column] = value
    decision = evaluate_gate(
        "erp_export", batch, contract=open_contract, run_id="r", warehouse=warehouse, home=tmp_path
    )
    assert not decision.passed
    assert any(r.startswith(f"batch: {reason}") for r in decision.reasons), decision.reasons


def test_a_kill_switch_stops_only_its_flow(
    open_contract: Contract, warehouse: Warehouse, tmp_path: Path
) -> None:
    pause("crm_account_enrichment", "test", home=tmp_path, contract=open_contract)
    decisions = decide_all(open_contract, warehouse, tmp_path)
    assert decisions["crm_account_sync"].reasons == (
        "kill switch on: crm_account_enrichment is paused",
    )
    assert all(d.passed for f, d in decisions.items() if f != "crm_account_sync")


def test_a_read_only_phase_stops_only_its_flow(
    open_contract: Contract, warehouse: Warehouse, tmp_path: Path
) -> None:
    contract = with_phases(open_contract, erp_journal_export="read_only")
    decisions = decide_all(contract, warehouse, tmp_path)
    assert decisions["erp_export"].reasons == (
        "rollout phase read_only of erp_journal_export does not allow erp_export "
        "(allowed: controlled_writes, automation)",
    )
    assert all(d.passed for f, d in decisions.items() if f != "erp_export")


def test_controlled_writes_allow_case_sync_but_not_automations(
    open_contract: Contract, warehouse: Warehouse, tmp_path: Path
) -> None:
    contract = with_phases(open_contract, support_case_priority="controlled_writes")
    decisions = decide_all(contract, warehouse, tmp_path)
    assert decisions["crm_case_sync"].passed
    assert not decisions["automations"].passed


def test_a_failing_verdict_names_each_threshold_and_refuses(
    open_contract: Contract, warehouse: Warehouse, tmp_path: Path
) -> None:
    warehouse.execute(
        "update reconciliation.rec_verdict set measured_value = 300, is_passing = false "
        "where phase = 'controlled_writes'"
    )
    decisions = decide_all(open_contract, warehouse, tmp_path)
    assert decisions["erp_export"].reasons == (
        "rec_verdict controlled_writes break_rate_bps: 300 > 200",
    )
    assert decisions["automations"].passed  # its own thresholds (automation) hold


def test_no_warehouse_or_no_verdict_fails_closed(open_contract: Contract, tmp_path: Path) -> None:
    decision = evaluate_gate(
        "crm_case_sync", case_batch(), contract=open_contract, run_id="r", home=tmp_path
    )
    assert decision.reasons == ("rec_verdict not read: no warehouse given",)


def test_decisions_are_recorded_once_and_bound_the_next_batch(
    open_contract: Contract, warehouse: Warehouse, tmp_path: Path
) -> None:
    first = evaluate_gate(
        "crm_case_sync",
        case_batch(),
        contract=open_contract,
        run_id="r1",
        warehouse=warehouse,
        home=tmp_path,
    )
    record_gate_decision(warehouse, first)
    record_gate_decision(warehouse, first)  # a rerun records nothing new
    assert decisions_of_run(warehouse, "r1") == [first]

    # the contract's floor is 5000 rows; 200% of the previous batch (1 row) is below it
    big = pd.concat([case_batch()] * 5001, ignore_index=True)
    big["case_field_id"] = [f"500{i}|Billing_Priority_Flag__c" for i in range(len(big))]
    second = evaluate_gate(
        "crm_case_sync",
        big,
        contract=open_contract,
        run_id="r2",
        warehouse=warehouse,
        home=tmp_path,
    )
    assert second.reasons == (
        "batch: at most 5000 rows (200% of the previous batch's 1, or 5000): observed 5001",
    )


def test_a_data_quality_finding_stops_only_the_flows_that_read_its_system(
    open_contract: Contract, warehouse: Warehouse, tmp_path: Path
) -> None:
    warehouse.execute(
        "insert into reconciliation.dq_findings values ('f1', "
        "'accepted_values:stg_salesforce__accounts.crm_billing_status', 'crm', '001A')"
    )
    decisions = decide_all(open_contract, warehouse, tmp_path)
    reason = (
        "data-quality finding on crm input: "
        "accepted_values:stg_salesforce__accounts.crm_billing_status (1 rows)"
    )
    assert {f: d.reasons for f, d in decisions.items()} == {
        "erp_export": (),
        "crm_account_sync": (reason,),
        "crm_case_sync": (reason,),
        "automations": (reason,),
    }
