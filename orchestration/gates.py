"""The output gates as blocking Dagster asset checks on the outgoing dbt models.

Contract:
- `gate_checks`: one `@dg.asset_check` per flow of `q2c.gates.FLOWS`, on the dbt asset the flow
  sends from (`exports/export_erp_journal_lines`, `sync/sync_salesforce_account_fields`,
  `sync/sync_salesforce_case_fields`; `automations` sits beside `crm_case_sync` on the case
  model). Blocking for the flows in `BLOCKING`; `automations` is recorded and shown only (see
  `BLOCKING`). `orchestration/definitions.py` adds them to its assets.
- Each check reads the model's rows from the warehouse as the batch, gathers the dbt tests on
  that model that failed in this run (Dagster's own check evaluations), and asks
  `q2c.gates.evaluate_gate`; the decision goes to `ops.gate_decisions` and, as plain values
  (flow, reasons, validation id, row count; never row values), into the check's metadata.
- Records held by open breaks of the flow's kinds (`reconciliation.gate_holds`) do not fail
  the check: the sender leaves them out and sends the rest (their count is in the metadata).
- A refused gate is a failed ERROR check: Dagster does not start the assets downstream of that
  model in the same run (the ERP export, the CRM write-back), and every other asset runs on.
- The checks write the warehouse (`ops.gate_decisions`), so they run in the `warehouse` pool.
- (No `from __future__ import annotations` here: Dagster inspects the `context` annotation.)
"""

import threading
from typing import Any

import dagster as dg
from dagster import AssetCheckExecutionContext

from orchestration.log_masking import masked_metadata, masked_text
from orchestration.policies import WAREHOUSE_POOL
from orchestration.resources import WarehouseResource
from q2c.gates import FLOWS, evaluate_gate, record_gate_decision
from q2c.policy import default_contract
from q2c.warehouse import Warehouse, quote_identifier

#: every gate check is named `<flow>` + this (the run summary tells gate refusals by it)
GATE_CHECK_SUFFIX = "_gate_passes"

#: flows whose refusal stops the assets downstream of their model. `automations` shares the
#: case model with `crm_case_sync`: in controlled_writes it always refuses (automation is a
#: later phase) and must not stop the controlled case write-back, so its decision is recorded
#: and shown (a WARN check) while `crm_case_sync` decides whether the case flow runs.
BLOCKING = frozenset({"erp_export", "crm_account_sync", "crm_case_sync"})

#: flow -> the dbt model (schema, table) whose rows are the flow's outgoing batch
FLOW_MODELS: dict[str, tuple[str, str]] = {
    "erp_export": ("exports", "export_erp_journal_lines"),
    "crm_account_sync": ("sync", "sync_salesforce_account_fields"),
    "crm_case_sync": ("sync", "sync_salesforce_case_fields"),
    "automations": ("sync", "sync_salesforce_case_fields"),
}


def read_batch(wh: Warehouse, schema: str, table: str) -> Any:
    """Every row of `schema.table` as a pandas DataFrame (DuckDB or Postgres)."""
    import pandas as pd

    sql = f"select * from {quote_identifier(schema)}.{quote_identifier(table)}"
    if wh.dialect == "duckdb":
        return wh.connection.execute(sql).df()
    cursor = wh.connection.execute(sql)
    return pd.DataFrame(cursor.fetchall(), columns=[c.name for c in cursor.description])


def failed_checks_in_run(
    instance: dg.DagsterInstance, run_id: str, asset_key: dg.AssetKey
) -> list[str]:
    """Names of the checks on `asset_key` that failed earlier in this run (the dbt tests),
    leaving out the gates themselves."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    failed = []
    for record in records:
        event = record.event_log_entry.dagster_event
        evaluation = event.event_specific_data if event else None
        if (
            evaluation is not None
            and evaluation.asset_key == asset_key
            and not evaluation.passed
            and not evaluation.check_name.endswith(GATE_CHECK_SUFFIX)
        ):
            failed.append(evaluation.check_name)
    return sorted(set(failed))


def build_gate_check(flow: str) -> dg.AssetChecksDefinition:
    """The blocking check of `flow` on the dbt model it sends from."""
    schema, table = FLOW_MODELS[flow]
    asset_key = dg.AssetKey([schema, table])

    @dg.asset_check(
        asset=asset_key,
        name=f"{flow}{GATE_CHECK_SUFFIX}",
        blocking=flow in BLOCKING,
        pool=WAREHOUSE_POOL,
        description=(
            f"The {flow} gate (q2c.gates): the model's tests passed in this run, the Great "
            "Expectations suite accepts its rows, rec_verdict holds the contract's thresholds, "
            "no data-quality finding on its inputs, kill switch off, rollout phase allows it."
        ),
    )
    def _gate(
        context: AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> dg.AssetCheckResult:
        failed = failed_checks_in_run(context.instance, context.run.run_id, asset_key)
        with warehouse.open() as wh:
            decision = evaluate_gate(
                flow,
                read_batch(wh, schema, table),
                contract=default_contract(),
                run_id=context.run.run_id,
                warehouse=wh,
                failed_tests=failed,
            )
            record_gate_decision(wh, decision)
        meta = decision.metadata()
        return dg.AssetCheckResult(
            passed=decision.passed,
            severity=dg.AssetCheckSeverity.ERROR
            if flow in BLOCKING
            else dg.AssetCheckSeverity.WARN,
            metadata=masked_metadata(meta, keep=("run_id", "validation_id", "decided_at")),
            description=masked_text("; ".join(decision.reasons)[:2000])
            or f"{flow} may send ({len(decision.held)} records held out by open breaks)",
        )

    return _gate


gate_checks: list[dg.AssetChecksDefinition] = [build_gate_check(flow) for flow in FLOWS]


def import_suites_in_background() -> threading.Thread:
    """Import Great Expectations (the gates' suites) on a daemon thread: about 3 s of CPU, 15 s
    on a loaded machine, otherwise paid by the first gate of a run. The dbt asset starts it once
    dbt builds in its own process, so the import overlaps the build."""

    def _import() -> None:
        import great_expectations  # noqa: F401

    thread = threading.Thread(target=_import, name="q2c-import-suites", daemon=True)
    thread.start()
    return thread
