"""Rollback of one write flow (or one run of it) from the audit trail.

`rollback(wh, writer, contract, flow=F, run=R)`:
1. the flow's accepted writes (`written`, `redriven`, `rolled_back` rows with result `ok`) of
   run R (every run when None), per record: the value each field had **before** the first of
   them and the value q2c wrote **last**;
2. one SOQL per chunk reads the records now; a field a person (or anything else) changed since
   q2c's last write is left alone (reported `changed since`), and so is a record q2c created
   (there is no previous value to write back: reported `created by q2c`);
3. the previous values go out through the same outbox, idempotency keys (the rollback's source
   reference is the last audit row it undoes, so a repeated rollback is a duplicate), retries
   and dead-letter queue as any write; each accepted row is audited `rolled_back`.
The caller pauses the flow first (its kill switch), so its next run does not write the values
again; `q2c policy resume F` re-enables it. `dry_run` reads and plans, sends nothing.
Notifications cannot be unsent: their flow reports what was sent and writes nothing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from q2c.audit.trail import PUSHED_ACTIONS, ensure_audit_table
from q2c.policy.model import Contract, WriteTarget
from q2c.warehouse import Warehouse
from q2c.writeback import store
from q2c.writeback.decisions import idempotency_key, normalize
from q2c.writeback.engine import DEFAULT_ACTOR, FlowReport, _deliver, _Run, target_for
from q2c.writeback.model import CrmWriter, FlowSpec


@dataclass
class RollbackReport:
    flow: str
    run: str | None
    run_id: str
    dry_run: bool
    records: int = 0
    planned: list[dict[str, Any]] = field(default_factory=list)
    changed_since: int = 0
    created_by_q2c: int = 0
    rolled_back: int = 0
    failed: int = 0
    note: str | None = None


def flow_target(contract: Contract, flow: str, sobject: str) -> WriteTarget:
    """The write target the audit rows of `flow` on `sobject` were written through."""
    for name, auto in contract.automations.items():
        if auto.rollout_flow == flow and auto.object == sobject and auto.match_on != "Id":
            from q2c.writeback.automations import automation_target

            return automation_target(contract, name)
    return target_for(contract, sobject, flow)


def _writes(wh: Warehouse, flow: str, run: str | None) -> list[tuple[Any, ...]]:
    ensure_audit_table(wh)
    sql = (
        "select seq, target_system, target_object, match_value, target_id, before_values,"
        " after_values, detail, action, run_id from ops.audit_trail where flow = ?"
        f" and action in ({', '.join(repr(a) for a in PUSHED_ACTIONS)}) and result = 'ok'"
    )
    params: list[Any] = [flow]
    if run is not None:
        sql += " and (run_id = ? or action = 'rolled_back')"
        params.append(run)
    return wh.fetchall(sql + " order by seq", params)


def _load(value: Any) -> dict[str, Any]:
    import json

    if value is None:
        return {}
    return value if isinstance(value, dict) else json.loads(value)


def rollback(
    wh: Warehouse,
    writer: CrmWriter | None,
    contract: Contract,
    *,
    flow: str,
    run: str | None = None,
    run_id: str,
    dry_run: bool = False,
    actor: str = DEFAULT_ACTOR,
    sleep: Callable[[float], None] = time.sleep,
) -> RollbackReport:
    """Write back the values `flow`'s writes replaced (see the module docstring).

    Raises:
        ValueError: `flow` is not a write flow of the contract.
    """
    if flow not in contract.rollout or contract.rollout[flow].kind != "write":
        raise ValueError(f"{flow!r} is not a write flow of the contract")
    report = RollbackReport(flow, run, run_id, dry_run)
    if contract.rollout[flow].writes_to == "notifications":
        report.note = "notifications cannot be unsent: nothing written (see ops.notifications)"
        return report
    # per (system, object, record): before of the first write, after of the last, its seq
    records: dict[tuple[str, str, str], dict[str, Any]] = {}
    for seq, system, sobject, mv, target_id, before, after, detail, action, _rid in _writes(
        wh, flow, run
    ):
        rec = records.get((system, sobject, mv))
        if action == "rolled_back":
            # a rollback already undid what came before it: start again after it
            if rec is not None:
                del records[(system, sobject, mv)]
            continue
        if rec is None:
            rec = records[(system, sobject, mv)] = {
                "before": {},
                "after": {},
                "created": detail == "created",
                "id": target_id,
            }
        for f, v in _load(before).items():
            rec["before"].setdefault(f, v)
        rec["after"].update(_load(after))
        rec["seq"], rec["id"] = seq, target_id or rec["id"]
    report.records = len(records)
    by_object: dict[tuple[str, str], list[str]] = {}
    for system, sobject, mv in records:
        by_object.setdefault((system, sobject), []).append(mv)
    for (system, sobject), mvs in sorted(by_object.items()):
        target = flow_target(contract, flow, sobject)
        _rollback_object(wh, writer, contract, target, records, system, mvs, report, actor,
                         sleep)  # fmt: skip
    return report


def _rollback_object(
    wh: Warehouse,
    writer: CrmWriter | None,
    contract: Contract,
    target: WriteTarget,
    records: dict[tuple[str, str, str], dict[str, Any]],
    system: str,
    mvs: list[str],
    report: RollbackReport,
    actor: str,
    sleep: Callable[[float], None],
) -> None:
    flow_report = FlowReport(flow=target.flow, run_id=report.run_id, phase="rollback")
    run = _Run(FlowSpec(target.flow, target.object, "", "", "", target.flow), contract, wh,
               writer, report.run_id, actor, None, sleep, random.Random(), target,
               flow_report, written_action="rolled_back")  # fmt: skip
    fields = sorted({f for mv in mvs for f in records[(system, target.object, mv)]["after"]})
    current = run.read(mvs, fields) if writer is not None else {}
    now = datetime.now(UTC)
    rows: list[store.OutboxRow] = []
    for mv in sorted(mvs):
        rec = records[(system, target.object, mv)]
        plan: dict[str, Any] = {"record": mv, "id": rec["id"], "fields": {}}
        report.planned.append(plan)
        if rec["created"]:
            report.created_by_q2c += 1
            plan["decision"] = "created by q2c: no previous value (close or delete it by hand)"
            continue
        cur = current.get(mv)
        payload = {}
        for f, ours in rec["after"].items():
            theirs = None if cur is None else cur.values.get(f)
            if normalize(theirs) != normalize(ours):
                plan["fields"][f] = "changed since q2c wrote it: left alone"
                report.changed_since += 1
                continue
            # the audit trail keeps JSON values; a write carries API text (`false`, `12.5`)
            payload[f] = normalize(rec["before"].get(f))
            plan["fields"][f] = {"from": ours, "to": payload[f]}
        if not payload:
            plan["decision"] = "nothing to write back"
            continue
        plan["decision"] = "write back"
        key = idempotency_key(target.object, mv, payload, f"rollback:{rec['seq']}")
        rows.append(store.OutboxRow(
            idempotency_key=key, flow=target.flow, target_system=target.system,
            sobject=target.object, match_on=target.match_on, operation=target.operation,
            match_value=mv, record_id=cur.record_id if cur else rec["id"], payload=payload,
            before_values={f: rec["after"].get(f) for f in payload},
            source_ref=f"audit:{rec['seq']}", status="pending", attempts=0, errors=[],
            run_id=report.run_id, created_at=now, updated_at=now,
        ))  # fmt: skip
    if report.dry_run or not rows:
        return
    known = store.outbox_by_keys(wh, [r.idempotency_key for r in rows])
    store.insert_pending(wh, [r for r in rows if r.idempotency_key not in known])
    todo = [known.get(r.idempotency_key, r) for r in rows]
    _deliver(run, [r for r in todo if r.status in ("pending", "in_flight")])
    run.flush()
    report.rolled_back += flow_report.written
    report.failed += flow_report.failed_attempts
