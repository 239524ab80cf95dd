"""Redrive of `ops.dead_letters`: oldest first, each only after three checks.

1. Still wanted: the source's current value (the flow's sync model now) is the one the dead
   letter carries; otherwise it is `dropped` (a newer write supersedes it) and never sent.
2. The cause is gone, as far as the target can tell without writing: the record exists and the
   integration user may update every field (describe).
3. Still idempotent: when the CRM already holds the values, nothing is sent (`skipped_duplicate`).
Then the write goes out (sObject Collections, in dead-letter order); success marks it
`redriven` (the audit trail's `redriven` row is a push, the diff's new baseline); a failure stays
in the queue with the new error appended.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from q2c.audit.trail import AuditEvent, record_events
from q2c.policy.model import Contract
from q2c.warehouse import Warehouse
from q2c.writeback import store
from q2c.writeback.decisions import chunks, group_desired, normalize
from q2c.writeback.engine import COLLECTION_SIZE, READ_CHUNK, target_for
from q2c.writeback.model import CrmWriter, FlowSpec, WriteRow

DEFAULT_ACTOR = "q2c:dlq-redrive"


@dataclass
class RedriveReport:
    considered: int = 0
    redriven: int = 0
    dropped: int = 0
    already_done: int = 0
    blocked: int = 0
    failed: int = 0
    planned: list[dict[str, Any]] = field(default_factory=list)


def redrive(
    wh: Warehouse,
    writer: CrmWriter,
    contract: Contract,
    *,
    run_id: str,
    current_rows: Iterable[Mapping[str, Any]],
    spec: FlowSpec,
    error_kind: str | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    actor: str = DEFAULT_ACTOR,
) -> RedriveReport:
    """Redrive the flow's dead letters (see the module docstring).

    Args:
        current_rows: the flow's sync model rows now (what the source says today).
        error_kind: only dead letters whose last error has this code.
        limit: at most this many, oldest first.
        dry_run: check and report, send nothing, change nothing.
    """
    target = target_for(contract, spec.sobject)
    report = RedriveReport()
    letters = [d for d in store.dead_letters(wh, sobject=spec.sobject, error_kind=error_kind,
                                             limit=limit) if d["flow"] == target.flow]  # fmt: skip
    if not letters:
        return report
    desired, _ = group_desired(current_rows, spec, target)
    updateable = writer.updateable_fields(target.object)
    events: list[AuditEvent] = []

    def event(action: str, d: Mapping[str, Any], result: str, detail: str) -> AuditEvent:
        return AuditEvent(
            action=action, run_id=run_id, actor=actor, flow=target.flow, result=result,
            source_system="billing", source_ref=d["source_ref"], object_type=target.object,
            object_id=d["record_id"], target_system=target.system, target_object=target.object,
            target_id=d["record_id"], match_value=d["match_value"],
            idempotency_key=d["idempotency_key"], after=d["payload"], detail=detail,
        )  # fmt: skip

    sendable: list[dict[str, Any]] = []
    for part in chunks(letters, READ_CHUNK):
        fields = {f for d in part for f in d["payload"]}
        current = writer.read_current(target.object, target.match_on,
                                      [d["match_value"] for d in part], sorted(fields))  # fmt: skip
        for d in part:
            report.considered += 1
            want = desired.get(d["match_value"])
            payload = d["payload"]
            plan = {"idempotency_key": d["idempotency_key"], "record_id": d["record_id"],
                    "match_value": d["match_value"], "payload": payload}  # fmt: skip
            wanted = want is not None and all(
                normalize(want.values.get(f)) == normalize(v) for f, v in payload.items()
            )
            cur = current.get(d["match_value"])
            if not wanted:
                report.dropped += 1
                plan["decision"] = "dropped: the source's value changed since"
                if not dry_run:
                    store.mark_redriven(wh, d["idempotency_key"], run_id, status="dropped")
                    events.append(event("redriven", d, "dropped", plan["decision"]))
            elif cur is None and target.operation == "update":
                report.blocked += 1
                plan["decision"] = "blocked: the record is not in the CRM"
            elif not set(payload) <= updateable:
                report.blocked += 1
                plan["decision"] = f"blocked: not updateable: {sorted(set(payload) - updateable)}"
            elif cur is not None and all(
                normalize(cur.values.get(f)) == normalize(v) for f, v in payload.items()
            ):
                report.already_done += 1
                plan["decision"] = "already in the CRM: nothing sent"
                if not dry_run:
                    store.mark_redriven(wh, d["idempotency_key"], run_id)
                    events.append(event("skipped_duplicate", d, "duplicate", plan["decision"]))
            else:
                plan["decision"] = "send"
                sendable.append(d)
            report.planned.append(plan)
    if dry_run:
        return report
    record_events(wh, events)
    for part in chunks(sendable, COLLECTION_SIZE):
        rows = [WriteRow(d["match_value"], dict(d["payload"]), d["record_id"]) for d in part]
        results = writer.write(target.object, target.match_on, target.operation, rows,
                               bulk=False)  # fmt: skip
        done: list[AuditEvent] = []
        with wh.transaction():
            for d, res in zip(part, results, strict=True):
                if res.success:
                    report.redriven += 1
                    store.mark_redriven(wh, d["idempotency_key"], run_id)
                    d["record_id"] = res.record_id or d["record_id"]
                    done.append(event("redriven", d, "ok", "redriven after the checks"))
                    continue
                report.failed += 1
                err = res.errors[0] if res.errors else None
                error = store.masked_error(
                    err.code if err else "UNPROCESSED",
                    err.message if err else "the row was not processed",
                    err.fields if err else (), run_id,
                )  # fmt: skip
                wh.execute(
                    f"update ops.dead_letters set errors = cast(? as {wh.json_type}),"
                    " error_kind = ? where idempotency_key = ?",
                    [json.dumps([*d["errors"], error]), error["code"], d["idempotency_key"]],
                )
            record_events(wh, done)
    return report
