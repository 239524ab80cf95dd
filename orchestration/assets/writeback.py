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
  and age). The asset check `<flow>_dead_letter_queue_is_empty` warns while dead letters wait;
  `<flow>_queue_is_healthy` warns when the outbox depth, its oldest pending age, the DLQ volume
  or the oldest dead letter's age is beyond the contract's `writeback.queue_health`.
- `automations/<class>` (group `automations`): one asset per automation class of the contract
  (`q2c.writeback.automations`), after the model it reads; a class its phase, kill switch,
  reconciliation or review items hold materializes with the reasons (not a failure).
- `run_writeback(wh, writer, flow, run_id=...)` and `run_automation_class(...)` are the same
  steps for the command line (`q2c incident replay`).
"""

from typing import Any

import dagster as dg

from extractors.salesforce.writer import SalesforceWriter
from orchestration.log_masking import masked_text
from orchestration.policies import RETRY, WAREHOUSE_POOL, fail_fast_on_systematic
from orchestration.resources import SalesforceResource, WarehouseResource
from q2c.masking import MaskContext, mask_record
from q2c.settings import load_settings
from q2c.warehouse import Warehouse
from q2c.writeback import FLOWS, FlowReport, WriteRequestFailed, run_flow, sync_rows
from q2c.writeback.automations import CLASSES, AutomationReport, run_automation
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


class WebhookNotifier:
    """POSTs a finance notification as JSON to the webhook, its id as the `Idempotency-Key`
    (a receiver that keeps keys gets each notification once, even when q2c retries)."""

    def __init__(self, url: str, *, verify: str | bool = True, timeout: float = 10.0) -> None:
        import httpx

        self.url = url
        self.client = httpx.Client(verify=verify, timeout=timeout, trust_env=False)

    def send(self, notification: Any) -> None:
        body = {k: notification[k] for k in ("notification_id", "kind", "subject_type",
                                             "subject_id", "summary", "payload")}  # fmt: skip
        key = notification["notification_id"]
        response = self.client.post(self.url, json=body, headers={"Idempotency-Key": key})
        response.raise_for_status()

    def close(self) -> None:
        self.client.close()


def notifier_from_settings() -> WebhookNotifier | None:
    """The finance webhook of `Q2C_NOTIFY_WEBHOOK_URL` (None: notifications stay in the table)."""
    from urllib.parse import urlsplit

    settings = load_settings()
    url = settings.notify_webhook_url
    if not url:
        return None
    # a webhook on the Salesforce host (the sandbox's stand-in) is trusted through its CA
    # bundle; any other URL through the system's certificate store
    same_host = urlsplit(url).netloc == urlsplit(settings.salesforce_login_url).netloc
    bundle = settings.salesforce_ca_bundle
    return WebhookNotifier(url, verify=bundle if same_host and bundle else True)


def run_automation_class(
    wh: Warehouse,
    writer: SalesforceWriter | None,
    name: str,
    *,
    run_id: str,
    actor: str,
    notifier: WebhookNotifier | None = None,
) -> AutomationReport:
    """One automation class with the `automations` gate on the batch (support enrichment)."""
    from q2c.gates import evaluate_gate, record_gate_decision
    from q2c.policy import load_contract

    contract = load_contract()
    home = load_settings().home
    if name not in contract.automations:
        # a company whose contract does not name this class has not enabled it: nothing to do
        return AutomationReport(
            name, "", run_id, blocked=[f"the contract has no automations.{name}: not enabled"]
        )

    def gate(batch: Any) -> Any:
        decision = evaluate_gate("automations", batch, contract=contract, run_id=run_id,
                                 warehouse=wh, home=home)  # fmt: skip
        record_gate_decision(wh, decision)
        return decision

    return run_automation(name, wh, contract, writer=writer, notifier=notifier, gate=gate,
                          run_id=run_id, actor=actor, home=home)  # fmt: skip


def report_metadata(report: FlowReport | AutomationReport) -> dict[str, Any]:
    """Materialization metadata: counts, reasons and queue health, masked."""
    return metadata_values(mask_record(report.summary(), MaskContext("dagster_metadata")))


def metadata_values(summary: dict[str, Any]) -> dict[str, Any]:
    """Plain values as Dagster metadata values (an int as an int: `MetadataValue.json` takes
    only mappings and sequences)."""
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
        return _materialize(salesforce, warehouse, lambda wh, writer: run_writeback(
            wh, writer, flow, run_id=context.run.run_id, actor="q2c:dagster"))  # fmt: skip

    return writeback_asset


def _materialize(
    salesforce: SalesforceResource,
    warehouse: WarehouseResource,
    step: Any,
    notifier: WebhookNotifier | None = None,
) -> dg.MaterializeResult:
    """Run `step(wh, writer)` with the Salesforce writer and the warehouse, both closed after;
    a transient write failure reaches the RetryPolicy, a systematic one fails without retry."""
    client = salesforce.client()
    try:
        with fail_fast_on_systematic(), warehouse.open() as wh:
            report = step(wh, SalesforceWriter(client))
    except WriteRequestFailed as exc:
        if exc.transient:
            raise  # the RetryPolicy runs the step again; the outbox makes that safe
        raise dg.Failure(description=masked_text(str(exc)), allow_retries=False) from exc
    finally:
        client.close()
        if notifier is not None:
            notifier.close()
    return dg.MaterializeResult(metadata=report_metadata(report))


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
            metadata=metadata_values(health),
        )

    return dead_letter_queue_is_empty


def queue_health_problems(health: dict[str, Any], limits: Any) -> list[str]:
    """Which of the contract's `writeback.queue_health` thresholds `health` is beyond."""
    checks = (
        ("outbox_depth", limits.max_outbox_depth, "outbox depth"),
        ("oldest_pending_age_s", limits.max_oldest_pending_age_seconds, "oldest pending (s)"),
        ("dlq_volume", limits.max_dead_letters, "dead letters"),
        ("oldest_dead_letter_age_s", limits.max_oldest_dead_letter_age_seconds,
         "oldest dead letter (s)"),
    )  # fmt: skip
    return [f"{label} {health[key]} > {limit}" for key, limit, label in checks
            if health.get(key) is not None and health[key] > limit]  # fmt: skip


def _health_check(flow: str) -> dg.AssetChecksDefinition:
    spec = FLOWS[flow]

    @dg.asset_check(
        asset=dg.AssetKey([GROUP, flow]),
        name=f"{flow}_queue_is_healthy",
        description="Outbox depth, oldest pending age, dead-letter volume and age within the "
        "contract's writeback.queue_health.",
    )
    def queue_is_healthy(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        from q2c.policy import load_contract
        from q2c.writeback.engine import target_for

        contract = load_contract()
        target = target_for(contract, spec.sobject)
        with warehouse.open() as wh:
            health = queue_health(wh, target.flow)
        problems = queue_health_problems(health, contract.writeback.queue_health)
        limits = contract.writeback.queue_health.model_dump()
        return dg.AssetCheckResult(
            passed=not problems,
            severity=dg.AssetCheckSeverity.WARN,
            description="; ".join(problems) or "within the contract's queue_health",
            metadata={**metadata_values(health), "thresholds": dg.MetadataValue.json(limits)},
        )  # fmt: skip

    return queue_is_healthy


#: the dbt model each automation class reads (its asset runs after it)
AUTOMATION_DEPS = {
    "support_enrichment": ["sync", "sync_salesforce_case_fields"],
    "renewal_opportunities": ["marts", "fct_subscriptions"],
    "finance_notifications": ["reconciliation", "rec_breaks"],
}


def _automation_asset(name: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=["automations", name],
        group_name="automations",
        deps=[dg.AssetKey(AUTOMATION_DEPS[name])],
        retry_policy=RETRY,
        pool=WAREHOUSE_POOL,
        kinds={"python"},
        tags={"automation": name},
        automation_condition=dg.AutomationCondition.eager(),
        description=f"The {name} automation (phase automation, its own kill switch and "
        "rollback); held, with the reasons, unless reconciliation is clean for it.",
    )
    def automation_asset(
        context: dg.AssetExecutionContext,
        salesforce: SalesforceResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        notifier = notifier_from_settings()
        return _materialize(salesforce, warehouse, lambda wh, writer: run_automation_class(
            wh, writer, name, run_id=context.run.run_id, actor="q2c:dagster",
            notifier=notifier), notifier)  # fmt: skip

    return automation_asset


writeback_assets = [_asset(flow) for flow in FLOWS]
writeback_checks = [*(_dlq_check(flow) for flow in FLOWS), *(_health_check(f) for f in FLOWS)]
automation_assets = [_automation_asset(name) for name in CLASSES]
#: what `orchestration/definitions.py` adds (assets and their checks)
writeback_definitions: list[Any] = [*writeback_assets, *writeback_checks, *automation_assets]
