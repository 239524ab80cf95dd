"""Automations (rollout phase `automation`): what q2c does without a person in the loop.

Three classes, each in the contract's `automations` with its own rollout flow, so each is
enabled (its phase), paused (its kill switch) and rolled back (`q2c.writeback.rollback`) alone:

- `support_enrichment`: the billing priority flag on the open cases of an account that a
  billing event (`invoice.payment_failed`, the customer's latest) put in dunning. The rows are
  the case sync model's `true` rows re-keyed to that event (`billing:event:<id>`), so the
  idempotency key is the event's: a retry of the same event is a `skipped_duplicate`, and a
  flag an agent cleared stays cleared (the winner rule). Through `run_flow`, with the
  `automations` gate the caller passes.
- `renewal_opportunities`: one Opportunity per subscription period about to end (within
  `renewal_window_days` of the latest billing event landed), upserted on the external id
  `<subscription id>:<period end>`; amounts exact (Decimal from integer minor units).
- `finance_notifications`: new compliance holds and breaks whose |difference| is above
  `notify_break_minor` go to `ops.notifications` (one row per notification id: the kind, its
  subject and state hashed, so a rerun never notifies twice) and to the finance webhook
  (`Notifier`, the id as the `Idempotency-Key`); a failed delivery stays `pending` for the
  next run.

Each class runs only when `blocked_reasons` is empty: its flow in phase `automation`, its kill
switch off, `reconciliation.rec_verdict` holding its thresholds, no data-quality finding on
its input systems. Open review items (`q2c.review`) hold their subjects (`run_flow`; for
notifications and renewals here). Everything writes the same outbox, dead-letter queue and
audit trail as the controlled write-back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from q2c.audit.trail import AuditEvent, last_pushed, record_events
from q2c.masking import MaskContext, mask_record
from q2c.policy.kill_switch import is_paused
from q2c.policy.model import Automation, Contract, WriteTarget
from q2c.reports.money import minor_to_major
from q2c.review import detect_red_flags, held_subjects, open_items
from q2c.review.queue import _plain
from q2c.warehouse import Warehouse
from q2c.writeback import store
from q2c.writeback.decisions import idempotency_key, normalize
from q2c.writeback.engine import (
    DEFAULT_ACTOR,
    FlowReport,
    GateResult,
    _deliver,
    _Run,
    run_flow,
)
from q2c.writeback.model import CrmWriter, FlowSpec

log = logging.getLogger(__name__)

CLASSES = ("finance_notifications", "renewal_opportunities", "support_enrichment")
#: `q2c incident replay` runs the stages in this order, each after the previous reconciles
REPLAY_STAGES = ("financial", "subscription", "support")
NOTIFICATIONS = "ops.notifications"


class Notifier(Protocol):
    """Delivers one finance notification (the webhook); raises on failure."""

    def send(self, notification: Mapping[str, Any]) -> None: ...


@dataclass
class AutomationReport:
    """What one run of one automation class did."""

    name: str
    rollout_flow: str
    run_id: str
    blocked: list[str] = field(default_factory=list)
    candidates: int = 0
    held_for_review: int = 0
    written: int = 0
    skipped: int = 0
    notified: int = 0
    failed: int = 0
    flow: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        return asdict(self)


def blocked_reasons(
    wh: Warehouse, contract: Contract, name: str, home: Path | None = None
) -> list[str]:
    """Why class `name` may not run now (empty: it may). Fails closed on a missing table."""
    auto = contract.automations[name]
    flow = contract.rollout[auto.rollout_flow]
    reasons = []
    if flow.phase != "automation":
        reasons.append(f"rollout phase {flow.phase} of {auto.rollout_flow} is not automation")
    if is_paused(auto.rollout_flow, home=home):
        reasons.append(f"kill switch on: {auto.rollout_flow} is paused")
    if auto.thresholds is not None:
        if not wh.table_exists("reconciliation", "rec_verdict"):
            reasons.append("rec_verdict not built: the reconciliation has not run")
        else:
            for metric, cur, kind, limit, measured in wh.fetchall(
                "select metric, currency, break_kind, max_value, measured_value"
                " from reconciliation.rec_verdict where phase = ? and not is_passing",
                [auto.thresholds],
            ):
                what = "|".join(str(p) for p in (metric, cur, kind) if p)
                reasons.append(f"rec_verdict {auto.thresholds} {what}: {measured} > {limit}")
    if auto.input_systems:
        if not wh.table_exists("reconciliation", "dq_findings"):
            reasons.append("dq_findings not built: the input checks have not run")
        else:
            marks = ", ".join("?" for _ in auto.input_systems)
            for system, check, n in wh.fetchall(
                "select system, check_name, count(*) from reconciliation.dq_findings"
                f" where system in ({marks}) group by system, check_name order by 1, 2",
                list(auto.input_systems),
            ):
                reasons.append(f"data-quality finding on {system} input: {check} ({n} rows)")
    return reasons


def _select(wh: Warehouse, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cur = wh.connection.execute(sql.replace("?", "%s") if wh.is_postgres else sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _tables(wh: Warehouse, *names: str) -> bool:
    return all(wh.table_exists(*n.split(".")) for n in names)


# -- support enrichment ------------------------------------------------------------------------
SUPPORT_SPEC = FlowSpec(
    gate_flow="automations",
    sobject="Case",
    sync_model="sync.sync_salesforce_case_fields",
    record_column="case_id",
    match_column="case_id",
)


def support_rows(wh: Warehouse) -> list[dict[str, Any]]:
    """The case sync model's `true` rows of accounts a billing event put in dunning, each keyed
    to the customer's latest `invoice.payment_failed` event."""
    needed = ("sync.sync_salesforce_case_fields", "marts.fct_cases",
              "staging.stg_billing__events", "staging.stg_billing__invoices")  # fmt: skip
    if not _tables(wh, *needed):
        return []
    rows = _select(
        wh,
        "with failed as (select invoices.customer_id, events.event_id, row_number() over"
        " (partition by invoices.customer_id order by events.created_at desc, events.event_id"
        " desc) as event_rank from staging.stg_billing__events as events"
        " inner join staging.stg_billing__invoices as invoices"
        " on invoices.invoice_id = events.object_id"
        " where events.event_type = 'invoice.payment_failed')"
        " select sync.*, failed.event_id as billing_event_id"
        " from sync.sync_salesforce_case_fields as sync"
        " inner join marts.fct_cases as cases on cases.case_id = sync.case_id"
        " inner join failed on failed.customer_id = cases.billing_customer_id"
        " and failed.event_rank = 1"
        " where sync.proposed_value = 'true' order by sync.case_id",
    )
    for r in rows:
        r["source_ref"] = f"billing:event:{r.pop('billing_event_id')}"
    return rows


# -- renewal opportunities ---------------------------------------------------------------------
def renewal_rows(wh: Warehouse, auto: Automation) -> list[dict[str, Any]]:
    """One Opportunity per live subscription whose current period ends within the window of
    the latest billing event landed (the data's clock, not the machine's)."""
    if not _tables(wh, "marts.fct_subscriptions", "staging.stg_billing__events"):
        return []
    (now,) = wh.fetchone("select max(created_at) from staging.stg_billing__events") or (None,)
    if now is None:
        return []
    until = now + timedelta(days=auto.renewal_window_days)
    subs = _select(
        wh,
        "select subscription_id, salesforce_account_id, currency, billing_interval,"
        " mrr_amount, current_period_end_at from marts.fct_subscriptions"
        " where not is_deleted and not is_cancel_at_period_end"
        " and subscription_status in ('active', 'past_due', 'trialing')"
        " and salesforce_account_id is not null and current_period_end_at is not null"
        " and current_period_end_at > ? and current_period_end_at <= ?"
        " order by subscription_id",
        [now, until],
    )
    out = []
    for s in subs:
        end = s["current_period_end_at"].date().isoformat()
        months = 12 if str(s["billing_interval"] or "").startswith("year") else 1
        amount = minor_to_major(int(s["mrr_amount"] or 0) * months, s["currency"])
        out.append({
            "match_value": f"{s['subscription_id']}:{end}",
            "source_ref": f"billing:subscription:{s['subscription_id']}",
            "values": {
                "Name": f"Renewal {s['subscription_id']} {end}",
                "AccountId": s["salesforce_account_id"],
                "StageName": auto.renewal_stage,
                "CloseDate": end,
                "Amount": str(amount),
                "CurrencyIsoCode": str(s["currency"]).upper(),
            },
        })  # fmt: skip
    return out


def automation_target(contract: Contract, name: str) -> WriteTarget:
    """The write target of a CRM automation class (its object, external id and fields)."""
    auto = contract.automations[name]
    if not (auto.object and auto.match_on and auto.fields):
        raise ValueError(f"automations.{name} names no object, match_on and fields")
    system = contract.rollout[auto.rollout_flow].writes_to or "crm"
    return WriteTarget(
        system=system,
        object=auto.object,
        match_on=auto.match_on,
        operation="upsert",
        flow=auto.rollout_flow,
        fields=list(auto.fields),
    )


def run_renewals(
    wh: Warehouse,
    contract: Contract,
    writer: CrmWriter,
    *,
    run_id: str,
    actor: str = DEFAULT_ACTOR,
    home: Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> FlowReport:
    """Upsert the renewal Opportunities that changed since the last push (outbox first)."""
    name = "renewal_opportunities"
    target = automation_target(contract, name)
    store.ensure_writeback_tables(wh)
    report = FlowReport(flow=name, run_id=run_id, phase="automation", gate_passed=True)
    run = _Run(FlowSpec(name, target.object, "", "", "", target.flow), contract, wh, writer,
               run_id, actor, home, sleep, random.Random(), target, report)  # fmt: skip
    rows = renewal_rows(wh, contract.automations[name])
    held = held_subjects(wh, name) | held_subjects(wh, target.flow)
    pushed = last_pushed(wh, target.system, target.object)
    now = datetime.now(UTC)
    new: list[store.OutboxRow] = []
    report.records = len(rows)
    for r in rows:
        mv, values = r["match_value"], r["values"]
        if mv in held or r["source_ref"].rsplit(":", 1)[-1] in held:
            report.held_for_review += 1
            run.events.append(run.event("held_for_review", result="held", match_value=mv,
                                        source_ref=r["source_ref"]))  # fmt: skip
            continue
        last = pushed.get(mv, {})
        if all(normalize(last.get(f)) == normalize(v) for f, v in values.items()):
            continue
        report.candidates += 1
        key = idempotency_key(target.object, mv, values, r["source_ref"])
        new.append(store.OutboxRow(
            idempotency_key=key, flow=target.flow, target_system=target.system,
            sobject=target.object, match_on=target.match_on, operation=target.operation,
            match_value=mv, record_id=None, payload=values,
            before_values={f: last.get(f) for f in values}, source_ref=r["source_ref"],
            status="pending", attempts=0, errors=[], run_id=run_id, created_at=now,
            updated_at=now,
        ))  # fmt: skip
    known = store.outbox_by_keys(wh, [n.idempotency_key for n in new])
    todo = [known.get(n.idempotency_key, n) for n in new]
    todo = [n for n in todo if n.status in ("pending", "in_flight")]
    store.insert_pending(wh, [n for n in new if n.idempotency_key not in known])
    run.flush()
    budget = run.budget()
    if budget is not None:
        report.deferred = max(len(todo) - budget, 0)
        todo = todo[:budget]
    if todo and (stop := run.stop_reason()) is None:
        _deliver(run, todo)
    elif todo:
        report.stopped = stop
        report.deferred = len(todo)
    run.flush()
    report.health = store.queue_health(wh, target.flow)
    return report


# -- finance notifications ---------------------------------------------------------------------
def ensure_notifications(wh: Warehouse) -> None:
    if NOTIFICATIONS in wh.prepared:
        return
    wh.ensure_schema("ops")
    wh.execute(
        f"create table if not exists {NOTIFICATIONS} (notification_id text primary key,"
        " kind text not null, subject_type text not null, subject_id text not null,"
        f" summary text not null, payload {wh.json_type} not null, status text not null,"
        " attempts integer not null, last_error text, created_at timestamptz not null,"
        " sent_at timestamptz, run_id text not null)"
    )
    wh.prepared.add(NOTIFICATIONS)


def notification_id(kind: str, subject: str, state: Mapping[str, Any]) -> str:
    body = json.dumps({"kind": kind, "subject": subject, "state": state}, sort_keys=True,
                      default=str)  # fmt: skip
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def finance_candidates(wh: Warehouse, auto: Automation) -> list[dict[str, Any]]:
    """Holds and breaks above the threshold, each as a notification (masked for `reports`)."""
    out = []
    if wh.table_exists("reconciliation", "compliance_holds"):
        for h in _select(wh, "select subject_type, subject_id, action, gate, status, reason,"
                         " next_step, since from reconciliation.compliance_holds"
                         " order by subject_id, action, gate"):  # fmt: skip
            state = {k: h[k] for k in ("action", "gate", "status")}
            out.append({"kind": "compliance_hold", "subject_type": h["subject_type"],
                        "subject_id": h["subject_id"], "state": state,
                        "summary": f"{h['action']} held by {h['gate']} ({h['status']}): "
                                   f"{h['reason']} Next: {h['next_step']}",
                        "payload": h})  # fmt: skip
    if wh.table_exists("reconciliation", "rec_breaks") and auto.notify_break_minor:
        for b in _select(wh, "select break_id, break_kind, reconciliation, source_object_type,"
                         " source_object_id, target_object_id, difference_amount, currency"
                         " from reconciliation.rec_breaks where difference_amount is not null"
                         " and currency is not null order by break_id"):  # fmt: skip
            limit = auto.notify_break_minor.get(str(b["currency"]))
            if limit is None or abs(b["difference_amount"]) <= minor_to_major(limit, b["currency"]):
                continue
            state = {"difference": str(b["difference_amount"]), "currency": b["currency"]}
            out.append({"kind": "break_over_threshold", "subject_type": b["source_object_type"],
                        "subject_id": b["source_object_id"], "key": b["break_id"],
                        "state": state,
                        "summary": f"{b['break_kind']} in {b['reconciliation']}: "
                                   f"{b['difference_amount']} {b['currency']} over the threshold",
                        "payload": b})  # fmt: skip
    return out


def run_notifications(
    wh: Warehouse,
    contract: Contract,
    notifier: Notifier | None,
    *,
    run_id: str,
    actor: str = DEFAULT_ACTOR,
) -> AutomationReport:
    """Record new notifications once each, then deliver every pending one (oldest first)."""
    name = "finance_notifications"
    auto = contract.automations[name]
    report = AutomationReport(name, auto.rollout_flow, run_id)
    ensure_notifications(wh)
    held = held_subjects(wh, name)
    ctx = MaskContext("reports")
    known = {r[0] for r in wh.fetchall(f"select notification_id from {NOTIFICATIONS}")}
    now = datetime.now(UTC)
    events = []
    with wh.transaction():
        for c in finance_candidates(wh, auto):
            nid = notification_id(c["kind"], c.get("key") or c["subject_id"], c["state"])
            if nid in known:
                continue
            report.candidates += 1
            if c["subject_id"] in held:
                report.held_for_review += 1
                continue
            known.add(nid)
            payload = mask_record({k: _plain(v) for k, v in c["payload"].items()}, ctx)
            wh.execute(
                f"insert into {NOTIFICATIONS} (notification_id, kind, subject_type, subject_id,"
                f" summary, payload, status, attempts, created_at, run_id) values (?, ?, ?, ?,"
                f" ?, cast(? as {wh.json_type}), 'pending', 0, ?, ?)",
                [nid, c["kind"], c["subject_type"], c["subject_id"],
                 mask_record({"s": c["summary"]}, ctx)["s"],
                 json.dumps(payload, sort_keys=True, default=str), now, run_id],
            )  # fmt: skip
    pending = _select(wh, f"select notification_id, kind, subject_type, subject_id, summary,"
                      f" payload from {NOTIFICATIONS} where status = 'pending'"
                      " order by created_at, notification_id")  # fmt: skip
    cap = contract.rollout[auto.rollout_flow].max_writes_per_run
    for n in pending[:cap] if cap else pending:
        if notifier is None:
            break
        n["payload"] = n["payload"] if isinstance(n["payload"], dict) else json.loads(n["payload"])
        try:
            notifier.send(n)
        except Exception as exc:  # the webhook is down: the row stays pending
            report.failed += 1
            wh.execute(
                f"update {NOTIFICATIONS} set attempts = attempts + 1, last_error = ?"
                " where notification_id = ?",
                [f"{type(exc).__name__}: {str(exc)[:200]}", n["notification_id"]],
            )
            continue
        report.notified += 1
        wh.execute(f"update {NOTIFICATIONS} set status = 'sent', sent_at = ?,"
                   " attempts = attempts + 1 where notification_id = ?",
                   [datetime.now(UTC), n["notification_id"]])  # fmt: skip
        events.append(AuditEvent(
            "notified", run_id, actor, flow=auto.rollout_flow, result="ok",
            source_system="reconciliation", source_ref=n["kind"],
            object_type=n["subject_type"], object_id=n["subject_id"],
            target_system="notifications", target_object="webhook",
            idempotency_key=n["notification_id"], detail=n["summary"][:500],
        ))  # fmt: skip
    record_events(wh, events)
    return report


# -- one class, or all ---------------------------------------------------------------------------
def run_automation(
    name: str,
    wh: Warehouse,
    contract: Contract,
    *,
    writer: CrmWriter | None,
    notifier: Notifier | None,
    gate: Callable[[pd.DataFrame], GateResult],
    run_id: str,
    actor: str = DEFAULT_ACTOR,
    home: Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> AutomationReport:
    """Run class `name` if nothing blocks it (`blocked_reasons`); the reasons otherwise, with a
    `held_by_gate` audit row naming them."""
    if name not in contract.automations:
        known = sorted(contract.automations)
        raise KeyError(f"the contract has no automations.{name}; it has {known}")
    auto = contract.automations[name]
    report = AutomationReport(name, auto.rollout_flow, run_id)
    if wh.table_exists("reconciliation", "rec_breaks"):
        # red flags stop their automation: the items are open before anything is decided
        open_items(wh, detect_red_flags(wh, contract), run_id)
    report.blocked = blocked_reasons(wh, contract, name, home)
    if report.blocked:
        record_events(
            wh,
            [
                AuditEvent(
                    "held_by_gate",
                    run_id,
                    actor,
                    flow=auto.rollout_flow,
                    result="held",
                    detail="; ".join(report.blocked)[:4000],
                )
            ],
        )
        log.info("automation %s held: %s", name, "; ".join(report.blocked))
        return report
    if name == "finance_notifications":
        out = run_notifications(wh, contract, notifier, run_id=run_id, actor=actor)
        return out
    if writer is None:
        raise ValueError(f"automation {name} writes to the CRM: give it a CrmWriter")
    if name == "renewal_opportunities":
        flow = run_renewals(wh, contract, writer, run_id=run_id, actor=actor, home=home,
                            sleep=sleep)  # fmt: skip
    else:
        spec = FlowSpec(**{**asdict(SUPPORT_SPEC), "rollout_flow": auto.rollout_flow})
        flow = run_flow(spec, support_rows(wh), contract=contract, warehouse=wh, writer=writer,
                        run_id=run_id, gate=gate, actor=actor, home=home, sleep=sleep)  # fmt: skip
    report.candidates, report.written = flow.candidates, flow.written
    report.held_for_review = flow.held_for_review
    report.skipped = flow.skipped_duplicates + flow.unchanged_after_read
    report.failed = flow.failed_attempts
    report.flow = flow.summary()
    if flow.gate_passed is False:
        report.blocked = list(flow.gate_reasons)
    return report
