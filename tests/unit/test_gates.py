"""Output gates (q2c.gates): the Great Expectations suite refuses what must not leave, and a
kill switch or a read_only phase stops only its own flow; a record with an open break of the
flow's kinds is held out and the rest passes.

Each test starts from batches the gate accepts and a warehouse whose gate_verdict holds for
every flow and whose gate_holds is empty, then breaks one thing and checks that exactly that
flow is refused (or that record held), with the reason.
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
    """A DuckDB warehouse whose gate_verdict holds for every flow (one passing row each) and
    whose gate_holds holds nothing."""
    wh = Warehouse.from_url(f"duckdb:///{tmp_path / 'wh.duckdb'}")
    wh.ensure_schema("reconciliation")
    phases = {"automations": "automation"}
    rows = ", ".join(
        f"('{f}|{phases.get(f, 'controlled_writes')}|break_rate_bps||', '{f}', "
        f"'{phases.get(f, 'controlled_writes')}', 'break_rate_bps', null, null, 200, 10, true)"
        for f in FLOWS
    )
    wh.execute(
        f"create table reconciliation.gate_verdict as select * from (values {rows}) as t("
        "gate_threshold_id, flow, phase, metric, currency, break_kind, max_value, "
        "measured_value, is_passing)"
    )
    wh.execute(
        "create table reconciliation.gate_holds (hold_id varchar, flow varchar, "
        "record_key varchar, break_id varchar, break_kind varchar, reason varchar)"
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
                "billing_customer_id": "cus_A",
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


def test_the_shipped_contract_lets_the_case_sync_and_the_automations_gate_pass(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    # the automations gate obeys the support_enrichment automation's own flow (phase
    # automation in the sandbox contract), not the controlled case write-back's
    decisions = decide_all(default_contract(), warehouse, tmp_path)
    assert decisions["crm_case_sync"].passed, decisions["crm_case_sync"].reasons
    assert decisions["automations"].passed, decisions["automations"].reasons


def test_the_automations_gate_obeys_its_automation_flow_not_the_controlled_one(
    open_contract: Contract, warehouse: Warehouse, tmp_path: Path
) -> None:
    contract = with_phases(open_contract, automation_support_enrichment="controlled_writes")
    decisions = decide_all(contract, warehouse, tmp_path)
    assert decisions["crm_case_sync"].passed
    assert decisions["automations"].reasons == (
        "rollout phase controlled_writes of automation_support_enrichment does not allow "
        "automations (allowed: automation)",
    )
    pause("support_case_priority", "test", home=tmp_path, contract=open_contract)
    decisions = decide_all(open_contract, warehouse, tmp_path)
    assert decisions["automations"].passed
    assert not decisions["crm_case_sync"].passed
    pause("automation_support_enrichment", "test", home=tmp_path, contract=open_contract)
    assert decide_all(open_contract, warehouse, tmp_path)["automations"].reasons == (
        "kill switch on: automation_support_enrichment is paused",
    )


def test_the_automations_gate_refuses_a_field_outside_its_automation_class(
    open_contract: Contract, warehouse: Warehouse, tmp_path: Path
) -> None:
    batch = case_batch().assign(field_api_name="Status", case_field_id="500A|Status")
    decision = evaluate_gate("automations", batch, contract=open_contract, run_id="run-1",
                             warehouse=warehouse, home=tmp_path)  # fmt: skip
    assert not decision.passed
    assert any("write set of automation_support_enrichment" in r for r in decision.reasons)


def test_a_failing_verdict_names_each_threshold_and_refuses(
    open_contract: Contract, warehouse: Warehouse, tmp_path: Path
) -> None:
    warehouse.execute(
        "update reconciliation.gate_verdict set measured_value = 300, is_passing = false "
        "where flow = 'erp_export'"
    )
    decisions = decide_all(open_contract, warehouse, tmp_path)
    assert decisions["erp_export"].reasons == (
        "gate_verdict controlled_writes break_rate_bps over the flow's break kinds: 300 > 200",
    )
    # each flow is judged over its own break kinds: the others pass
    assert all(d.passed for f, d in decisions.items() if f != "erp_export")


def test_no_warehouse_or_no_verdict_fails_closed(
    open_contract: Contract, warehouse: Warehouse, tmp_path: Path
) -> None:
    decision = evaluate_gate(
        "crm_case_sync", case_batch(), contract=open_contract, run_id="r", home=tmp_path
    )
    assert decision.reasons == (
        "gate_holds not read: which records to hold is unknown",
        "gate_verdict not read: no warehouse given",
    )
    warehouse.execute("delete from reconciliation.gate_verdict where flow = 'crm_case_sync'")
    decision = evaluate_gate(
        "crm_case_sync", case_batch(), contract=open_contract, run_id="r", warehouse=warehouse,
        home=tmp_path,
    )  # fmt: skip
    assert decision.reasons == ("gate_verdict has no thresholds for crm_case_sync",)
    warehouse.execute("drop table reconciliation.gate_holds")
    decision = evaluate_gate(
        "erp_export", erp_batch(), contract=open_contract, run_id="r", warehouse=warehouse,
        home=tmp_path,
    )  # fmt: skip
    assert decision.reasons == ("gate_holds not read: which records to hold is unknown",)


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


def _hold(warehouse: Warehouse, flow: str, record: str, kind: str) -> None:
    warehouse.execute(
        "insert into reconciliation.gate_holds values (?, ?, ?, ?, ?, ?)",
        [f"{flow}|{record}|{kind}:x", flow, record, f"{kind}:x", kind,
         f"open break {kind} on billing invoice in_1"],
    )  # fmt: skip


def test_a_held_record_is_left_out_and_the_rest_passes(
    open_contract: Contract, warehouse: Warehouse, tmp_path: Path
) -> None:
    # the held invoice entry is even unbalanced: held rows are not part of what the suite sees
    batch = erp_batch()
    batch.loc[1, "credit_minor"] = 11999
    _hold(warehouse, "erp_export", "q2c:invoice:in_1", "erp_amount_mismatch")
    _hold(warehouse, "crm_account_sync", "cus_A", "customer_linked_to_deleted_account")
    _hold(warehouse, "crm_case_sync", "500Z", "data_quality")  # not in the batch
    decisions = decide_all(open_contract, warehouse, tmp_path, erp_export=batch)
    assert {f: d.reasons for f, d in decisions.items()} == {f: () for f in FLOWS}
    erp = decisions["erp_export"]
    assert erp.passed and erp.row_count == 2 and erp.held_rows == 2
    assert erp.held == {
        "q2c:invoice:in_1": ("open break erp_amount_mismatch on billing invoice in_1",)
    }
    assert list(decisions["crm_account_sync"].held) == ["cus_A"]
    assert decisions["crm_case_sync"].held == {}  # only records of the batch are named
    record_gate_decision(warehouse, erp)
    assert warehouse.fetchall("select held_count from ops.gate_decisions") == [(1,)]


def test_a_systemic_failure_still_refuses_the_whole_batch_with_holds(
    open_contract: Contract, warehouse: Warehouse, tmp_path: Path
) -> None:
    _hold(warehouse, "erp_export", "q2c:invoice:in_1", "erp_amount_mismatch")
    batch = erp_batch()
    batch.loc[3, "credit_minor"] = 11999  # the payment entry, not held, is off by one cent
    decision = evaluate_gate(
        "erp_export", batch, contract=open_contract, run_id="r", warehouse=warehouse,
        home=tmp_path,
    )  # fmt: skip
    assert not decision.passed
    assert decision.reasons == (
        "batch: every journal entry balances (debits = credits in minor units): 2 of 2 rows",
    )


def test_a_blocking_break_kind_the_contract_does_not_know_is_refused() -> None:
    from q2c.policy import ContractError, load_contract
    from q2c.policy.loader import contract_path

    text = (
        contract_path()
        .read_text(encoding="utf-8")
        .replace(
            "blocking_break_kinds: [customer_linked_to_deleted_account, data_quality]",
            "blocking_break_kinds: [customer_linked_to_deleted_account, data_quality, typo_kind]",
        )
    )
    with pytest.raises(ContractError, match="'typo_kind' is not a known break kind"):
        load_contract("ownership.yml", text=text)


def test_an_empty_batch_carries_nothing_wrong_but_systemic_checks_still_apply(
    open_contract: Contract, warehouse: Warehouse, tmp_path: Path
) -> None:
    # a write-back run with no changed record asks the gate about an empty frame
    decision = evaluate_gate(
        "crm_case_sync", pd.DataFrame([]), contract=open_contract, run_id="r",
        warehouse=warehouse, home=tmp_path,
    )  # fmt: skip
    assert decision.passed and decision.row_count == 0 and decision.validation_id is None
    pause("support_case_priority", "test", home=tmp_path, contract=open_contract)
    decision = evaluate_gate(
        "crm_case_sync", pd.DataFrame([]), contract=open_contract, run_id="r",
        warehouse=warehouse, home=tmp_path,
    )  # fmt: skip
    assert decision.reasons == ("kill switch on: support_case_priority is paused",)
