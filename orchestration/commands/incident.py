"""`q2c incident pause|replay|resume|status` (the README's incident runbook) and
`q2c writeback rollback|automation`.

- `q2c incident pause [--reason R] [--by NAME]`: turns on the kill switch of every customer-facing
  automation class and every non-essential CRM write flow (rollout write flows writing to the
  CRM or the support tool); ingestion, the ERP export, payouts and finance notifications go on.
  The incident (which switches it set) is kept in `$Q2C_HOME/incident.json`.
- `q2c incident replay [--json]`: runs the stages in order, financial events (finance
  notifications), subscription state (the account write-back, renewal opportunities), support
  enrichment (the case write-back, the priority flag automation), each only after the previous
  stage **reconciles**: its break kinds (billing vs ERP, billing vs CRM, cases vs dunning) are
  gone from `reconciliation.rec_breaks`, whatever the queues hold. A stage that has not
  reconciled yet stops the replay (exit 3) with the open breaks; run the pipeline (`q2c run`)
  so the stage's writes are extracted and reconciled, then replay again: it goes on from there.
  A stage's switches are lifted just before it runs.
- `q2c incident resume`: lifts every switch the incident set (not ones set before it) and ends
  the incident.
- `q2c writeback rollback --flow F [--run R] [--dry-run] [--json]`: `q2c.writeback.rollback`,
  after pausing F (so its next run does not write the values again).
- `q2c writeback automation NAME [--json]`: run one automation class now.
"""

from __future__ import annotations

import getpass
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from orchestration.commands.json_output import emit_json, fail, json_or_logs
from q2c.policy import kill_switch
from q2c.policy.loader import default_contract
from q2c.policy.model import Contract
from q2c.settings import load_settings
from q2c.warehouse import Warehouse

app = typer.Typer(no_args_is_help=True)
writeback_app = typer.Typer(no_args_is_help=True)
console = Console()
JsonOpt = typer.Option(False, "--json", help="Print JSON on stdout.")

STAGES = ("financial", "subscription", "support")
#: the write-back flows (q2c.writeback.FLOWS) of each replay stage
WRITEBACK_STAGE = {"crm_account_sync": "subscription", "crm_case_sync": "support"}
#: what "reconciled" means per stage: these break kinds are gone from rec_breaks
#: (billing vs ERP and payouts; billing vs CRM; cases vs dunning)
CHECKPOINT_KINDS = {
    "financial": ("erp_", "payout_"),
    "subscription": ("crm_billing_status_stale", "deal_without_subscription",
                     "subscription_without_deal", "customer_without_account",
                     "customer_linked_to_deleted_account"),
    "support": ("case_dunning_without_priority",),
}  # fmt: skip
INCIDENT_FILE = "incident.json"


def _incident_path() -> Path:
    return load_settings().home / INCIDENT_FILE


def _load_incident() -> dict[str, Any] | None:
    path = _incident_path()
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def _save_incident(state: dict[str, Any]) -> None:
    path = _incident_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)


def incident_flows(contract: Contract) -> list[str]:
    """The flows an incident pauses: customer-facing automations and CRM/support writes."""
    autos = {a.rollout_flow: a for a in contract.automations.values()}
    out = []
    for name, flow in contract.rollout.items():
        if flow.kind != "write":
            continue
        if name in autos:
            if autos[name].customer_facing:
                out.append(name)
        elif flow.writes_to in ("crm", "support"):
            out.append(name)
    return out


def stage_flows(contract: Contract, stage: str) -> list[str]:
    """The rollout flows a replay stage runs (write-backs and automation classes)."""
    from q2c.writeback import FLOWS
    from q2c.writeback.engine import target_for

    flows = [target_for(contract, FLOWS[f].sobject).flow
             for f, s in WRITEBACK_STAGE.items() if s == stage]  # fmt: skip
    flows += [a.rollout_flow for a in contract.automations.values() if a.replay_stage == stage]
    return flows


def checkpoint(wh: Warehouse, stage: str) -> list[str]:
    """The open breaks that keep `stage` from being reconciled (empty: it is)."""
    if not wh.table_exists("reconciliation", "rec_breaks"):
        return ["rec_breaks not built: the reconciliation has not run"]
    kinds = CHECKPOINT_KINDS[stage]
    rows = wh.fetchall(
        "select break_kind, count(*) from reconciliation.rec_breaks group by break_kind"
        " order by break_kind"
    )
    return [f"{n} open {kind} break(s)" for kind, n in rows if str(kind).startswith(kinds)]


@app.command("pause")
def pause(
    reason: str = typer.Option("incident", "--reason", help="Why (recorded on each switch)."),
    by: str = typer.Option("", "--by", help="Who pauses (recorded)."),
    as_json: bool = JsonOpt,
) -> None:
    """Stop customer-facing automations and non-essential CRM writes; ingestion goes on."""
    contract = default_contract()
    before = set(kill_switch.paused_flows())
    state = _load_incident() or {
        "started_at": datetime.now(UTC).isoformat(), "reason": reason,
        "by": by or getpass.getuser(), "paused": [], "replayed": []}  # fmt: skip
    for flow in incident_flows(contract):
        if flow in before:
            continue  # paused before the incident: resume leaves it paused
        kill_switch.pause(flow, f"incident: {reason}", by=state["by"], contract=contract)
        state["paused"].append(flow)
    state["replayed"] = []
    _save_incident(state)
    if as_json:
        emit_json(state)
        return
    console.print(f"incident: paused {', '.join(state['paused']) or 'nothing new'}; "
                  "ingestion, the ERP export and finance notifications go on")  # fmt: skip


@app.command("status")
def status(as_json: bool = JsonOpt) -> None:
    """The incident (if any): what it paused and which replay stages ran."""
    state = _load_incident()
    if as_json:
        emit_json(state or {"incident": None})
        return
    console.print(json.dumps(state, indent=2) if state else "no incident")


@app.command("replay")
def replay(as_json: bool = JsonOpt) -> None:
    """Financial events, then subscription state, then support enrichment, each only after
    the previous stage reconciles (billing, CRM and ERP match)."""
    from orchestration.assets.writeback import (
        notifier_from_settings,
        run_automation_class,
        run_writeback,
    )

    state = _load_incident()
    if state is None:
        fail("no incident: `q2c incident pause` first", as_json=as_json, code=2)
    contract = default_contract()
    run_id = f"incident-replay-{uuid.uuid4().hex[:12]}"
    actor = f"q2c:incident-replay:{getpass.getuser()}"
    out: dict[str, Any] = {"run_id": run_id, "stages": {}, "waiting": None}
    writer, client = _writer()
    notifier = notifier_from_settings()
    try:
        with json_or_logs(as_json), Warehouse.from_url(load_settings().warehouse_url) as wh:
            for i, stage in enumerate(STAGES):
                if stage in state["replayed"]:
                    continue
                if i:
                    problems = checkpoint(wh, STAGES[i - 1])
                    if problems:
                        out["waiting"] = {"stage": stage, "after": STAGES[i - 1],
                                          "open": problems}  # fmt: skip
                        break
                done: dict[str, Any] = {}
                for flow in stage_flows(contract, stage):
                    if flow in state["paused"]:
                        kill_switch.resume(flow, contract=contract)
                        state["paused"].remove(flow)
                for gate_flow, s in WRITEBACK_STAGE.items():
                    if s == stage:
                        done[gate_flow] = run_writeback(wh, writer, gate_flow, run_id=run_id,
                                                        actor=actor).summary()  # fmt: skip
                for name, auto in sorted(contract.automations.items()):
                    if auto.replay_stage == stage:
                        done[name] = run_automation_class(wh, writer, name, run_id=run_id,
                                                          actor=actor,
                                                          notifier=notifier).summary()  # fmt: skip
                state["replayed"].append(stage)
                _save_incident(state)
                out["stages"][stage] = done
    finally:
        client.close()
        if notifier is not None:
            notifier.close()
    out["replayed"] = state["replayed"]
    if as_json:
        emit_json(out)
    else:
        for stage, done in out["stages"].items():
            console.print(f"{stage}: ran {', '.join(done) or 'nothing'}")
        if out["waiting"]:
            w = out["waiting"]
            console.print(
                f"waiting: {w['stage']} runs once {w['after']} reconciles "
                f"({'; '.join(w['open'])}); run the pipeline, then replay again"
            )
    if out["waiting"]:
        raise typer.Exit(3)


@app.command("resume")
def resume(as_json: bool = JsonOpt) -> None:
    """Lift the switches the incident set and end it."""
    state = _load_incident()
    if state is None:
        fail("no incident to resume", as_json=as_json, code=2)
    contract = default_contract()
    lifted = [f for f in state["paused"] if kill_switch.resume(f, contract=contract)]
    _incident_path().unlink()
    if as_json:
        emit_json({"resumed": lifted, "incident": state})
        return
    console.print(f"incident over: resumed {', '.join(lifted) or 'nothing'}")


def _writer() -> tuple[Any, Any]:
    """A Salesforce writer for the environment's org (`Q2C_SALESFORCE_*`) and its client."""
    from extractors.salesforce.client import SalesforceClient, SalesforceCredentials
    from extractors.salesforce.writer import SalesforceWriter

    client = SalesforceClient(SalesforceCredentials.from_settings(load_settings()))
    return SalesforceWriter(client), client


@writeback_app.command("rollback")
def writeback_rollback(
    flow: str = typer.Option(..., "--flow", help="The rollout write flow to roll back."),
    run: str | None = typer.Option(None, "--run", help="Only this run's writes (a run id)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Read and plan; send nothing."),
    as_json: bool = JsonOpt,
) -> None:
    """Write back the values the flow's writes replaced (from the audit trail); the flow is
    paused first so its next run does not write them again (`q2c policy resume F` after)."""
    from q2c.writeback.rollback import rollback

    contract = default_contract()
    if flow not in contract.rollout or contract.rollout[flow].kind != "write":
        fail(f"{flow!r} is not a write flow of the contract", as_json=as_json, code=2)
    run_id = f"rollback-{uuid.uuid4().hex[:12]}"
    user = getpass.getuser()
    if not dry_run:
        kill_switch.pause(flow, f"rolled back ({run_id})", by=user, contract=contract)
    writer, client = _writer()
    try:
        with json_or_logs(as_json), Warehouse.from_url(load_settings().warehouse_url) as wh:
            report = rollback(wh, writer, contract, flow=flow, run=run, run_id=run_id,
                              dry_run=dry_run, actor=f"q2c:rollback:{user}")  # fmt: skip
    finally:
        client.close()
    if as_json:
        emit_json(report.__dict__)
        return
    console.print(f"{flow}: {report.records} record(s), {report.rolled_back} rolled back, "
                  f"{report.changed_since} field(s) changed since (left alone), "
                  f"{report.created_by_q2c} created by q2c, {report.failed} failed"
                  + (" (dry run)" if dry_run else f"; {flow} is paused"))  # fmt: skip
    if report.note:
        console.print(report.note)


@writeback_app.command("automation")
def writeback_automation(
    name: str = typer.Argument(..., help="An automation class of the contract."),
    as_json: bool = JsonOpt,
) -> None:
    """Run one automation class now (held, with the reasons, unless reconciliation is clean)."""
    from orchestration.assets.writeback import notifier_from_settings, run_automation_class

    if name not in default_contract().automations:
        fail(f"no automation class {name!r} in the contract", as_json=as_json, code=2)
    writer, client = _writer()
    notifier = notifier_from_settings()
    try:
        with json_or_logs(as_json), Warehouse.from_url(load_settings().warehouse_url) as wh:
            report = run_automation_class(wh, writer, name, actor=f"q2c:cli:{getpass.getuser()}",
                                          run_id=f"automation-{uuid.uuid4().hex[:12]}",
                                          notifier=notifier)  # fmt: skip
    finally:
        client.close()
        if notifier is not None:
            notifier.close()
    if as_json:
        emit_json(report.summary())
        return
    held = f" held: {'; '.join(report.blocked)}" if report.blocked else ""
    console.print(
        f"{name}: {report.candidates} candidate(s), {report.written} written, "
        f"{report.notified} notified, {report.held_for_review} held for review{held}"
    )
