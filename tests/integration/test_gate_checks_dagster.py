"""A refused output gate stops the asset downstream of it in the same Dagster run, and only it
(dagster-io/dagster#25112: a failing dbt test did not stop a downstream Python asset; here the
gate is a blocking asset check, and this run proves the downstream step never starts).

Real parts: a Dagster run (`dg.materialize`) of the real gate check (`orchestration.gates`) on
a DuckDB warehouse; the case-sync model is a Python asset with the dbt model's key writing the
same table, so the run needs no dbt build.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from orchestration.gates import build_gate_check
from orchestration.resources import WarehouseResource
from q2c.policy import pause
from q2c.warehouse import Warehouse

pytestmark = pytest.mark.integration

CASE_MODEL = dg.AssetKey(["sync", "sync_salesforce_case_fields"])


def _warehouse(path: Path, *, verdict_holds: bool) -> str:
    url = f"duckdb:///{path}"
    with Warehouse.from_url(url) as wh:
        wh.ensure_schema("reconciliation")
        wh.execute(
            "create or replace table reconciliation.gate_verdict as select * from (values "
            "('crm_case_sync|controlled_writes|break_rate_bps||', 'crm_case_sync', "
            "'controlled_writes', 'break_rate_bps', null, null, 200, ?, ?), "
            "('automations|automation|break_rate_bps||', 'automations', 'automation', "
            "'break_rate_bps', null, null, 50, 10, true)) as t(gate_threshold_id, flow, phase, "
            "metric, currency, break_kind, max_value, measured_value, is_passing)",
            [10 if verdict_holds else 900, verdict_holds],
        )
        wh.execute(
            "create or replace table reconciliation.gate_holds (hold_id varchar, flow varchar, "
            "record_key varchar, break_id varchar, break_kind varchar, reason varchar)"
        )
    return url


@dg.asset(key=CASE_MODEL)
def case_sync_model(warehouse: WarehouseResource) -> None:
    """Stands in for the dbt model: one case whose billing priority flag should be set."""
    with warehouse.open() as wh:
        wh.ensure_schema("sync")
        wh.execute(
            "create or replace table sync.sync_salesforce_case_fields as select "
            "'500A|Billing_Priority_Flag__c' as case_field_id, '500A' as case_id, "
            "'001A' as account_id, 'Id' as match_on, 'Billing_Priority_Flag__c' as "
            "field_api_name, 'true' as proposed_value"
        )


@dg.asset(deps=[CASE_MODEL])
def case_writeback() -> str:
    """Stands in for the CRM write-back: what must not start when the gate refuses."""
    return "sent"


@dg.asset
def unrelated_report() -> str:
    """Another flow's asset in the same run: runs whatever the gate says."""
    return "built"


def _run(url: str) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [case_sync_model, case_writeback, unrelated_report, build_gate_check("crm_case_sync")],
        resources={"warehouse": WarehouseResource(url=url)},
        raise_on_error=False,
    )


def _materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {
        event.asset_key.to_user_string()
        for event in result.all_events
        if event.is_step_materialization and event.asset_key is not None
    }


def test_a_refused_gate_skips_the_downstream_asset_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("Q2C_HOME", str(tmp_path))
    url = _warehouse(tmp_path / "wh.duckdb", verdict_holds=False)

    result = _run(url)

    assert _materialized(result) == {"sync/sync_salesforce_case_fields", "unrelated_report"}
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    reasons = evaluation.metadata["reasons"].value
    assert reasons == [
        "gate_verdict controlled_writes break_rate_bps over the flow's break kinds: 900 > 200"
    ]
    with Warehouse.from_url(url) as wh:
        rows = wh.fetchall("select flow, run_id, passed, reasons from ops.gate_decisions")
    assert rows == [("crm_case_sync", result.run_id, False, json.dumps(reasons))]
    assert (tmp_path / "gates" / result.run_id / "crm_case_sync.json").exists()


def test_a_passing_gate_lets_the_downstream_asset_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("Q2C_HOME", str(tmp_path))
    url = _warehouse(tmp_path / "wh.duckdb", verdict_holds=True)

    result = _run(url)

    assert result.success
    assert "case_writeback" in _materialized(result)
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed


def _run_with_the_automations_gate(url: str) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [case_sync_model, case_writeback, *map(build_gate_check, ("crm_case_sync", "automations"))],
        resources={"warehouse": WarehouseResource(url=url)},
        raise_on_error=False,
    )


def test_the_automations_gate_obeys_the_automation_flow_and_refusing_stops_no_write_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The automations gate obeys the support_enrichment automation's own flow (phase
    automation in the shipped contract): it passes; its kill switch on, it refuses (a warning)
    and the controlled case write-back still runs."""
    monkeypatch.setenv("Q2C_HOME", str(tmp_path))
    url = _warehouse(tmp_path / "wh.duckdb", verdict_holds=True)

    result = _run_with_the_automations_gate(url)

    outcome = {e.check_name: (e.passed, e.severity) for e in result.get_asset_check_evaluations()}
    assert outcome == {
        "crm_case_sync_gate_passes": (True, dg.AssetCheckSeverity.ERROR),
        "automations_gate_passes": (True, dg.AssetCheckSeverity.WARN),
    }

    pause("automation_support_enrichment", "test", home=tmp_path)
    result = _run_with_the_automations_gate(url)

    assert result.success
    assert "case_writeback" in _materialized(result)
    outcome = {e.check_name: (e.passed, e.severity) for e in result.get_asset_check_evaluations()}
    assert outcome == {
        "crm_case_sync_gate_passes": (True, dg.AssetCheckSeverity.ERROR),
        "automations_gate_passes": (False, dg.AssetCheckSeverity.WARN),
    }
