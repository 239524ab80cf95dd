"""The CRM write-back as Dagster assets: one per flow, downstream of its dbt payload model.

Contract:
- `writeback/crm_account_sync` (after `sync/sync_salesforce_account_fields`) and
  `writeback/crm_case_sync` (after `sync/sync_salesforce_case_fields`), group `writeback`:
  each runs `q2c.writeback.run_flow` with the flow's gate (`q2c.gates.evaluate_gate`, recorded
  in `ops.gate_decisions`) and the Salesforce writer of the `salesforce` resource.
- A batch the gate holds is a business outcome, not a failed step: the asset materializes with
  `stopped: gate` and the reasons (the gate's own blocking checks and `ops.gate_decisions`
  carry the alarm); so do phase `read_only` (what it would write) and a run stopped by the kill
  switch or `max_writes_per_run` (`stopped` says why). Errors a retry may fix reach `RETRY`;
  systematic ones (credentials, schema, a write request Salesforce refuses) fail without retry.
- Metadata (masked for the `dagster_metadata` channel; counts, never record values): records,
  changed, written, failed attempts, dead-lettered, reconciled after a crash, conflicts lost,
  refused fields, gate reasons, and queue health (outbox depth, oldest pending age, DLQ volume
  and age). The asset check `<flow>_dead_letter_queue_is_empty` warns while dead letters wait.
- `run_writeback(wh, writer, flow, run_id=...)` is the same step for the command line.
"""

from typing import Any

import dagster as dg

from extractors.salesforce.writer import SalesforceWriter
from orchestration.policies import RETRY, WAREHOUSE_POOL, fail_fast_on_systematic
from orchestration.resources import SalesforceResource, WarehouseResource
from q2c.masking import MaskContext, mask_record
from q2c.settings import load_settings
from q2c.warehouse import Warehouse
from q2c.writeback import FLOWS, FlowReport, WriteRequestFailed, run_flow, sync_rows
from q2c.writeback.store import queue_health

GROUP = "writeback"


def run_writeback(
    wh: Warehouse, writer: SalesforceWriter | None, flow: str, *, run_id: str, actor: str
) -> FlowReport:
    """One run of one write-back flow with its gate (the asset's body, and the CLI's)."""
    from q2c.gates import evaluate_gate, record_gate_decision
    from q2c.policy import load_contract

    spec = FLOWS[flow]
    contract = load_contract()
    home = load_settings().home

    def gate(batch: Any) -> Any:
        decision = evaluate_gate(flow, batch, contract=contract, run_id=run_id, warehouse=wh,
                                 home=home)  # fmt: skip
        record_gate_decision(wh, decision)
        return decision

    return run_flow(spec, sync_rows(wh, spec), contract=contract, warehouse=wh, writer=writer,
                    run_id=run_id, gate=gate, actor=actor, home=home)  # fmt: skip


def report_metadata(report: FlowReport) -> dict[str, Any]:
    """Materialization metadata: counts, reasons and queue health, masked."""
    summary = mask_record(report.summary(), MaskContext("dagster_metadata"))
    meta: dict[str, Any] = {}
    for key, value in summary.items():
        if isinstance(value, bool) or value is None:
            meta[key] = dg.MetadataValue.text(str(value))
        elif isinstance(value, int):
            meta[key] = dg.MetadataValue.int(value)
        elif isinstance(value, float):
            meta[key] = dg.MetadataValue.float(value)
        elif isinstance(value, dict | list):
            meta[key] = dg.MetadataValue.json(value)
        else:
            meta[key] = dg.MetadataValue.text(str(value))
    return meta


def _asset(flow: str) -> dg.AssetsDefinition:
    spec = FLOWS[flow]
    schema, _, model = spec.sync_model.partition(".")

    @dg.asset(
        key=[GROUP, flow],
        group_name=GROUP,
        deps=[dg.AssetKey([schema, model])],
        retry_policy=RETRY,
        pool=WAREHOUSE_POOL,
        kinds={"salesforce", "python"},
        tags={"flow": flow},
        automation_condition=dg.AutomationCondition.eager(),
        description=f"The changed {spec.sobject} fields of {spec.sync_model}, gated and written "
        "to Salesforce once each (outbox, idempotency keys, dead-letter queue, audit trail).",
    )
    def writeback_asset(
        context: dg.AssetExecutionContext,
        salesforce: SalesforceResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        client = salesforce.client()
        try:
            with fail_fast_on_systematic(), warehouse.open() as wh:
                report = run_writeback(wh, SalesforceWriter(client), flow,
                                       run_id=context.run.run_id, actor="q2c:dagster")  # fmt: skip
        except WriteRequestFailed as exc:
            if exc.transient:
                raise  # the RetryPolicy runs the step again; the outbox makes that safe
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        finally:
            client.close()
        return dg.MaterializeResult(metadata=report_metadata(report))

    return writeback_asset


def _dlq_check(flow: str) -> dg.AssetChecksDefinition:
    spec = FLOWS[flow]

    @dg.asset_check(
        asset=dg.AssetKey([GROUP, flow]),
        name=f"{flow}_dead_letter_queue_is_empty",
        description="Dead letters wait for `q2c dlq redrive`; warns while any do.",
    )
    def dead_letter_queue_is_empty(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        from q2c.policy import load_contract
        from q2c.writeback.engine import target_for

        target = target_for(load_contract(), spec.sobject)
        with warehouse.open() as wh:
            health = queue_health(wh, target.flow)
        return dg.AssetCheckResult(
            passed=health["dlq_volume"] == 0,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={k: dg.MetadataValue.json(v) for k, v in health.items()},
        )

    return dead_letter_queue_is_empty


writeback_assets = [_asset(flow) for flow in FLOWS]
writeback_checks = [_dlq_check(flow) for flow in FLOWS]
#: what `orchestration/definitions.py` adds (assets and their checks)
writeback_definitions: list[Any] = [*writeback_assets, *writeback_checks]
