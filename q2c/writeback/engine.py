"""The CRM write-back of one flow, from the sync model's rows to per-row results in the audit
trail (ARCHITECTURE.md, "The write-back path").

`run_flow(spec, rows, ...)`, in order:
1. group the rows per record; rows for fields outside the contract's write set are refused
   (audit `refused`), never sent;
2. keep the records whose fields differ from the last state pushed (`ops.audit_trail`) or that a
   person changed since (the CRM's extracted value is neither ours nor our last push);
3. the gate decides on exactly that batch (the caller's `gate`, normally
   `q2c.gates.evaluate_gate` + `record_gate_decision`); phase `read_only` records what it would
   write (audit `would_write`) and sends nothing; a failed gate holds the batch
   (`held_by_gate`);
4. outbox rows left `in_flight` by a run that died after sending are reconciled against the CRM
   first: a write the CRM already holds is recorded `written`, never sent again;
5. per batch (200 rows for sObject Collections; 10,000 per Bulk API 2.0 job above the contract's
   `bulk_threshold`): the kill switch, the phase and `max_writes_per_run` are checked; the CRM's
   current values and `LastModifiedById` are read (one SOQL per 200 records); each field's
   winner rule decides (losing values kept: `conflict_lost`); the payload is masked for the
   `writeback` channel; its idempotency key goes into `ops.outbox` **before** the request;
6. per-row results: `written`; transient errors retried in the run with exponential backoff and
   jitter; after `max_receive_count` attempts the row moves to `ops.dead_letters`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from q2c.audit.trail import AuditEvent, existing_keys, last_pushed, record_events
from q2c.masking import MaskContext, default_policy, mask_record
from q2c.policy.kill_switch import is_paused
from q2c.policy.model import Contract, ValueMap, WriteTarget
from q2c.review import held_subjects
from q2c.warehouse import Warehouse
from q2c.writeback import store
from q2c.writeback.decisions import (
    Desired,
    backoff_seconds,
    changed_fields,
    chunks,
    group_desired,
    idempotency_key,
    is_transient,
    normalize,
    resolve,
    to_canonical,
    to_label,
)
from q2c.writeback.model import CrmWriter, CurrentRecord, FlowSpec, RowResult, WriteRow

log = logging.getLogger(__name__)

DEFAULT_ACTOR = "q2c:writeback"
#: sObject Collections take at most 200 records per request
COLLECTION_SIZE = 200
#: records per SOQL read (`WHERE <match> IN (...)` stays far below SOQL's 100,000 characters)
READ_CHUNK = 200
#: records per Bulk API 2.0 ingest job (one CSV upload, well below its 150 MB limit)
BULK_JOB_SIZE = 10_000
#: sends of one row within one run (transient errors only); later runs try again
ATTEMPTS_PER_RUN = 3
#: the system q2c's payload values come from (the billing platform decides them)
SOURCE_SYSTEM = "billing"


class GateResult(Protocol):
    passed: bool
    reasons: tuple[str, ...]


class WriteRequestFailed(Exception):
    """A whole write request failed (raised by a `CrmWriter`); `transient` says whether a retry
    may help (dropped connection, retries exhausted) or the run must stop (auth, schema)."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass
class FlowReport:
    """What one run of one flow did (counts are records; Dagster metadata reads `summary`)."""

    flow: str
    run_id: str
    phase: str
    records: int = 0
    candidates: int = 0
    refused: int = 0
    gate_passed: bool | None = None
    gate_reasons: tuple[str, ...] = ()
    would_write: int = 0
    reconciled: int = 0
    unchanged_after_read: int = 0
    conflicts_lost: int = 0
    skipped_duplicates: int = 0
    skipped_dead: int = 0
    held_for_review: int = 0
    #: changed records the gate held out (an open break of the flow's kinds on them)
    held_by_gate: int = 0
    sent: int = 0
    written: int = 0
    failed_attempts: int = 0
    dead_lettered: int = 0
    deferred: int = 0
    stopped: str | None = None
    bulk: bool = False
    seconds: float = 0.0
    health: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out["gate_reasons"] = list(self.gate_reasons)
        return out


def target_for(contract: Contract, sobject: str, flow: str | None = None) -> WriteTarget:
    """The contract's write target for `sobject` (of rollout flow `flow` when given).

    A flow with no target of its own for `sobject` (an automation class setting a field a
    controlled flow also writes) gets the object's target under its own flow name: the same
    write set, its own phase, kill switch, audit rows and rollback.

    Raises:
        KeyError: the contract writes nothing to that object.
    """
    for target in contract.writeback.targets:
        if target.object == sobject and (flow is None or target.flow == flow):
            return target
    if flow is not None:
        return target_for(contract, sobject).model_copy(update={"flow": flow})
    raise KeyError(f"the contract's writeback has no target for {sobject}")


@dataclass
class _Run:
    spec: FlowSpec
    contract: Contract
    wh: Warehouse
    writer: CrmWriter | None
    run_id: str
    actor: str
    home: Path | None
    sleep: Callable[[float], None]
    rng: random.Random
    target: WriteTarget
    report: FlowReport
    events: list[AuditEvent] = field(default_factory=list)
    #: field API name -> the contract's value map (canonical words <-> the org's labels)
    vmaps: dict[str, ValueMap] = field(default_factory=dict)
    #: the audit action of an accepted row (`rolled_back` for a rollback's writes)
    written_action: str = "written"

    # -- value maps ---------------------------------------------------------------------------
    def canonical(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """`values` with each mapped field's org label read as its canonical word."""
        return {f: to_canonical(self.vmaps[f], v) if f in self.vmaps else v
                for f, v in values.items()}  # fmt: skip

    def labels(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """`values` with each mapped field's canonical word as the org's picklist label."""
        out = dict(values)
        for f, vm in self.vmaps.items():
            if f in out:
                out[f] = to_label(vm, out[f], self.crm.picklist_values(self.target.object, f))
        return out

    # -- audit -------------------------------------------------------------------------------
    def event(self, action: str, **kw: Any) -> AuditEvent:
        ev = AuditEvent(
            action=action,
            run_id=self.run_id,
            actor=self.actor,
            flow=self.target.flow,
            source_system=kw.pop("source_system", SOURCE_SYSTEM),
            target_system=self.target.system,
            target_object=self.target.object,
            object_type=self.target.object,
            **kw,
        )
        return ev

    def flush(self) -> None:
        if self.events:
            record_events(self.wh, self.events)
            self.events = []

    # -- stops --------------------------------------------------------------------------------
    def stop_reason(self) -> str | None:
        flow = self.contract.rollout[self.target.flow]
        if is_paused(self.target.flow, home=self.home):
            return f"kill switch on: {self.target.flow} is paused"
        if flow.phase not in ("controlled_writes", "automation"):
            return f"rollout phase {flow.phase} of {self.target.flow} does not write"
        if flow.max_writes_per_run is not None and self.report.sent >= flow.max_writes_per_run:
            return f"max_writes_per_run reached ({flow.max_writes_per_run})"
        return None

    def budget(self) -> int | None:
        cap = self.contract.rollout[self.target.flow].max_writes_per_run
        return None if cap is None else max(cap - self.report.sent, 0)

    # -- the CRM ------------------------------------------------------------------------------
    @property
    def crm(self) -> CrmWriter:
        if self.writer is None:
            raise RuntimeError("this step writes to the CRM but no CrmWriter was given")
        return self.writer

    def read(self, match_values: Sequence[str], fields: Iterable[str]) -> dict[str, Any]:
        current: dict[str, CurrentRecord] = {}
        cols = sorted(set(fields))
        for part in chunks(list(match_values), READ_CHUNK):
            current.update(self.crm.read_current(self.target.object, self.target.match_on,
                                                 part, cols))  # fmt: skip
        return current


def run_flow(
    spec: FlowSpec,
    rows: Iterable[Mapping[str, Any]],
    *,
    contract: Contract,
    warehouse: Warehouse,
    writer: CrmWriter | None,
    run_id: str,
    gate: Callable[[pd.DataFrame], GateResult],
    actor: str = DEFAULT_ACTOR,
    home: Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> FlowReport:
    """Write one flow's changed records to the CRM (see the module docstring).

    Args:
        spec: the flow (which object, which sync model columns).
        rows: the sync model's rows (one per record and field).
        contract: the ownership contract.
        warehouse: where `ops.outbox`, `ops.dead_letters` and `ops.audit_trail` live.
        writer: the CRM adapter (None only in phase `read_only`).
        run_id: the Dagster run id (or the CLI's own).
        gate: decides on the outgoing batch (and records its decision).
        actor: who runs it, for the audit trail.
        home: q2c's state directory (kill switches); default `$Q2C_HOME`.
        sleep, rng: backoff between in-run retries (tests pass fakes).
    """
    started = time.perf_counter()
    store.ensure_writeback_tables(warehouse)
    target = target_for(contract, spec.sobject, spec.rollout_flow)
    phase = contract.rollout[target.flow].phase
    report = FlowReport(flow=spec.gate_flow, run_id=run_id, phase=phase)
    run = _Run(spec, contract, warehouse, writer, run_id, actor, home, sleep,
               rng or random.Random(), target, report)  # fmt: skip
    run.vmaps = {f: contract.mapping.value_map(name) for f, name in target.value_maps.items()}
    rows = list(rows)
    desired, refused = group_desired(rows, spec, target)
    for d in desired.values():
        d.crm_values = run.canonical(d.crm_values)
    report.records, report.refused = len(desired), len(refused)
    for r in refused:
        run.events.append(run.event(
            "refused", result="refused", source_ref=r.source_ref, object_id=r.record_id,
            target_id=r.record_id, match_value=r.match_value, after={r.field_api_name: r.value},
            detail=f"{target.object}.{r.field_api_name} is not in the contract's write set",
        ))  # fmt: skip
    pushed = {mv: run.canonical(v) for mv, v in
              last_pushed(warehouse, target.system, target.object).items()}  # fmt: skip
    candidates = {mv: f for mv, d in desired.items() if (f := changed_fields(d, pushed.get(mv)))}
    _hold_for_review(run, desired, rows, candidates)
    report.candidates = len(candidates)
    batch = pd.DataFrame(
        [r for r in rows if str(r.get(spec.match_column)) in candidates
         and r.get("field_api_name") in candidates[str(r.get(spec.match_column))]]
    )  # fmt: skip
    decision = gate(batch)
    report.gate_passed, report.gate_reasons = decision.passed, tuple(decision.reasons)
    _hold_records(run, desired, candidates, getattr(decision, "held", None) or {})
    if phase == "read_only":
        for mv, fields in candidates.items():
            d = desired[mv]
            run.events.append(run.event(
                "would_write", result="read_only", source_ref=d.source_ref, object_id=d.record_id,
                target_id=d.record_id, match_value=mv,
                before={f: d.crm_values.get(f) for f in fields},
                after={f: d.values.get(f) for f in fields},
            ))  # fmt: skip
        report.would_write = len(candidates)
    elif not decision.passed:
        run.events.append(run.event(
            "held_by_gate", result="held", detail="; ".join(decision.reasons)[:4000]))  # fmt: skip
        report.stopped = "gate"
    else:
        _reconcile_in_flight(run)
        _send_candidates(run, desired, candidates, pushed)
    run.flush()
    report.health = store.queue_health(warehouse, target.flow)
    report.seconds = round(time.perf_counter() - started, 3)
    log.info(
        "write-back %s: %d records, %d changed, %d written, %d dead-lettered, stopped=%s",
        spec.gate_flow, report.records, report.candidates, report.written,
        report.dead_lettered, report.stopped,
    )  # fmt: skip
    return report


def _hold_records(
    run: _Run, desired: Mapping[str, Desired], candidates: dict[str, Any], held: Mapping[str, Any]
) -> None:
    """Leave the records the gate held (per record: open breaks of the flow's kinds) out of
    this run, each recorded `held_by_gate` with its reasons once per set of reasons; they are
    candidates again in a later run once the break is gone."""
    from q2c.gates.holds import hold_key

    mine = sorted(mv for mv in candidates if mv in held)
    keys = {mv: hold_key(run.spec.gate_flow, mv, held[mv]) for mv in mine}
    seen = existing_keys(run.wh, "held_by_gate", list(keys.values())) if keys else set()
    for mv in mine:
        d = desired[mv]
        del candidates[mv]
        if keys[mv] not in seen:
            run.events.append(run.event(
                "held_by_gate", result="held", source_ref=d.source_ref, object_id=d.record_id,
                target_id=d.record_id, match_value=mv, idempotency_key=keys[mv],
                detail="; ".join(held[mv])[:4000],
            ))  # fmt: skip
    run.report.held_by_gate = len(mine)


#: the ids a sync row names besides its record (a review item on any of them holds the row)
RELATED_COLUMNS = ("account_id", "billing_customer_id", "case_id")


def _hold_for_review(
    run: _Run,
    desired: Mapping[str, Desired],
    rows: Sequence[Mapping[str, Any]],
    candidates: dict[str, Any],
) -> None:
    """Leave alone the records an open review item names (`q2c review`), by the record, its
    match value or an id it relates to (its account, its billing customer): a red flag stops
    its flow's writes for that subject until a person resolves the item."""
    held = held_subjects(run.wh, run.spec.gate_flow) | held_subjects(run.wh, run.target.flow)
    if not held:
        return
    related: dict[str, set[str]] = {}
    for r in rows:
        mv = str(r.get(run.spec.match_column))
        related.setdefault(mv, {mv}).update(str(r[c]) for c in RELATED_COLUMNS if r.get(c))
    for mv in [mv for mv in candidates if related.get(mv, {mv}) & held]:
        del candidates[mv]
        d = desired[mv]
        run.report.held_for_review += 1
        run.events.append(run.event(
            "held_for_review", result="held", source_ref=d.source_ref, object_id=d.record_id,
            target_id=d.record_id, match_value=mv,
            detail="an open review item names this record (q2c review list)",
        ))  # fmt: skip


def _holds(current: CurrentRecord | None, payload: Mapping[str, Any]) -> bool:
    return current is not None and all(
        normalize(current.values.get(f)) == normalize(v) for f, v in payload.items()
    )


def _reconcile_in_flight(run: _Run) -> None:
    """Outbox rows a previous run left `in_flight` (it died after sending, before recording):
    the ones the CRM already holds are recorded as written; the rest go back to `pending`."""
    rows = store.open_rows(run.wh, run.target.flow, ["in_flight"])
    if not rows:
        return
    fields = {f for r in rows for f in r.payload}
    current = run.read([r.match_value for r in rows], fields)
    held, again = [], []
    for r in rows:
        cur = current.get(r.match_value)
        if _holds(cur, r.payload):
            held.append(r.idempotency_key)
            run.events.append(run.event(
                "written", result="ok", source_ref=r.source_ref, object_id=r.record_id,
                target_id=cur.record_id if cur else r.record_id, match_value=r.match_value,
                idempotency_key=r.idempotency_key, before=r.before_values, after=r.payload,
                detail="reconciled: an interrupted run's write is in the CRM; not sent again",
            ))  # fmt: skip
        else:
            again.append(r.idempotency_key)
    store.set_status(run.wh, held, "done")
    store.set_status(run.wh, again, "pending")
    run.report.reconciled = len(held)
    run.flush()


def _conflict_key(mv: str, field_id: str, ours: Any, theirs: Any, ours_won: bool) -> str:
    # one conflict_lost row per distinct conflict: a repeated run finds the same one again
    body = {"field": field_id, "ours": ours, "theirs": theirs, "ours_won": ours_won}
    return idempotency_key("conflict", mv, body, "")


def _send_candidates(
    run: _Run,
    desired: Mapping[str, Desired],
    candidates: Mapping[str, list[str]],
    pushed: Mapping[str, Mapping[str, Any]],
) -> None:
    report, target, wh = run.report, run.target, run.wh
    open_rows = store.open_rows(wh, target.flow, ["pending", "in_flight"])
    # rows no longer wanted (the record is not a candidate any more) are superseded
    stale = [r.idempotency_key for r in open_rows if r.match_value not in candidates]
    store.set_status(wh, stale, "superseded")
    # records with a pending row first (oldest first), then the rest in a stable order
    first = [r.match_value for r in open_rows if r.match_value in candidates]
    order = list(dict.fromkeys([*first, *sorted(candidates)]))
    open_by_record: dict[str, list[str]] = {}
    for r in open_rows:
        open_by_record.setdefault(r.match_value, []).append(r.idempotency_key)
    report.bulk = len(order) > run.contract.writeback.bulk_threshold
    size = BULK_JOB_SIZE if report.bulk else COLLECTION_SIZE
    integration_id = None
    if order:
        integration_id = run.crm.integration_user_id(run.contract.rules.integration_username)
    position = 0
    while position < len(order):
        stop = run.stop_reason()
        if stop:
            report.stopped = stop
            report.deferred += len(order) - position
            run.events.append(run.event("paused", result="stopped", detail=stop))
            break
        budget = run.budget()
        take = size if budget is None else min(size, budget)
        chunk = order[position : position + take]
        position += len(chunk)
        _send_chunk(run, chunk, desired, candidates, pushed, open_by_record, integration_id)


def _send_chunk(
    run: _Run,
    chunk: Sequence[str],
    desired: Mapping[str, Desired],
    candidates: Mapping[str, list[str]],
    pushed: Mapping[str, Mapping[str, Any]],
    open_by_record: Mapping[str, list[str]],
    integration_id: str | None,
) -> None:
    report, target, wh = run.report, run.target, run.wh
    fields = {f for mv in chunk for f in candidates[mv]}
    current = run.read(chunk, fields)
    mask = MaskContext("writeback", target.system, target.object)
    policy = default_policy()
    planned: list[store.OutboxRow] = []
    conflicts: list[tuple[str, AuditEvent]] = []
    now = datetime.now(UTC)
    for mv in chunk:
        d = desired[mv]
        cur = current.get(mv)
        # the winner rules compare canonical words; the payload carries the org's labels
        seen_as = cur
        if cur is not None and run.vmaps:
            seen_as = replace(cur, values=run.canonical(cur.values))
        res = resolve(run.contract, target, d, candidates[mv], seen_as, pushed.get(mv),
                      integration_id)  # fmt: skip
        if run.vmaps:
            raw = cur.values if cur is not None else {}
            res = replace(res, payload=run.labels(res.payload),
                          before={f: raw.get(f) for f in res.before})  # fmt: skip
        record_id = cur.record_id if cur else d.record_id
        for api, decision, ours, theirs in res.conflicts:
            key = _conflict_key(
                mv, decision.field_id, normalize(ours), normalize(theirs), decision.write
            )
            winner = "ours" if decision.write else "theirs"
            conflicts.append((key, run.event(
                "conflict_lost", result=f"{winner} won", source_ref=d.source_ref,
                object_id=record_id, target_id=record_id, match_value=mv, idempotency_key=key,
                before={api: theirs}, after={api: ours},
                losing={decision.field_id: decision.losing_value},
                detail=f"{decision.rule}: {decision.reason} ({api}; "
                f"CRM last modified by {cur.last_modified_by_id if cur else None} at "
                f"{cur.system_modstamp if cur else None})",
            )))  # fmt: skip
        if not res.payload:
            report.unchanged_after_read += 1
            continue
        payload = mask_record(dict(res.payload), mask, policy)
        key = idempotency_key(target.object, mv, payload, d.source_ref)
        planned.append(store.OutboxRow(
            idempotency_key=key, flow=target.flow, target_system=target.system,
            sobject=target.object, match_on=target.match_on, operation=target.operation,
            match_value=mv, record_id=record_id, payload=payload, before_values=res.before,
            source_ref=d.source_ref, status="pending", attempts=0, errors=[],
            run_id=run.run_id, created_at=now, updated_at=now,
        ))  # fmt: skip
    seen = existing_keys(wh, "conflict_lost", [k for k, _ in conflicts])
    run.events.extend(ev for k, ev in conflicts if k not in seen)
    report.conflicts_lost += sum(1 for k, _ in conflicts if k not in seen)
    known = store.outbox_by_keys(wh, [p.idempotency_key for p in planned])
    to_send: list[store.OutboxRow] = []
    new: list[store.OutboxRow] = []
    replaced: list[str] = []
    for p in planned:
        old = known.get(p.idempotency_key)
        replaced += [k for k in open_by_record.get(p.match_value, []) if k != p.idempotency_key]
        if old is None:
            new.append(p)
            to_send.append(p)
        elif old.status == "done":
            report.skipped_duplicates += 1
            run.events.append(run.event(
                "skipped_duplicate", result="duplicate", source_ref=p.source_ref,
                object_id=p.record_id, target_id=p.record_id, match_value=p.match_value,
                idempotency_key=p.idempotency_key, after=p.payload,
                detail="this write was already done (same idempotency key)",
            ))  # fmt: skip
        elif old.status == "dead":
            report.skipped_dead += 1  # waits in the DLQ for `q2c dlq redrive`
        else:
            old.before_values = p.before_values
            to_send.append(old)
    store.set_status(wh, replaced, "superseded")
    store.insert_pending(wh, new)  # the keys are stored before anything is sent
    run.flush()
    if to_send:
        _deliver(run, to_send)


def _deliver(run: _Run, rows: list[store.OutboxRow]) -> None:
    """Send rows, record each result; retry transient failures in the run with backoff."""
    report, target, wh = run.report, run.target, run.wh
    max_receive = run.contract.max_receive_count
    retry = run.contract.writeback.retry
    todo = rows
    attempt = 0
    while todo:
        attempt += 1
        exhausted = [r for r in todo if r.attempts >= max_receive]
        todo = [r for r in todo if r.attempts < max_receive]
        with wh.transaction():
            for r in exhausted:
                _dead_letter(run, r)
        if not todo:
            break
        store.set_status(wh, [r.idempotency_key for r in todo], "in_flight", count_attempt=True)
        for r in todo:
            r.attempts += 1
        report.sent += len(todo)
        write_rows = [WriteRow(r.match_value, dict(r.payload), r.record_id) for r in todo]
        try:
            results = run.crm.write(target.object, target.match_on, target.operation,
                                    write_rows, bulk=report.bulk)  # fmt: skip
        except WriteRequestFailed as exc:
            if not exc.transient:
                for r in todo:
                    store.record_failure(wh, r, store.masked_error(
                        "REQUEST_FAILED", str(exc), (), run.run_id), "pending")  # fmt: skip
                raise
            results = [RowResult(r.match_value, False, errors=(), unprocessed=True) for r in todo]
        retry_rows = []
        with wh.transaction():
            done = [r for r, res in zip(todo, results, strict=True) if res.success]
            store.set_status(wh, [r.idempotency_key for r in done], "done")
            for r, res in zip(todo, results, strict=True):
                if res.success:
                    _written(run, r, res)
                    continue
                err = res.errors[0] if res.errors else None
                code = err.code if err else ("UNPROCESSED" if res.unprocessed else "UNKNOWN")
                message = err.message if err else "the row was not processed"
                fields = err.fields if err else ()
                error = store.masked_error(code, message, fields, run.run_id)
                report.failed_attempts += 1
                if r.attempts >= max_receive:
                    r.errors = [*r.errors, error]
                    _dead_letter(run, r)
                    continue
                store.record_failure(wh, r, error, "pending")
                run.events.append(run.event(
                    "attempt_failed", result=code, source_ref=r.source_ref, object_id=r.record_id,
                    target_id=r.record_id, match_value=r.match_value,
                    idempotency_key=r.idempotency_key, after=r.payload,
                    detail=f"attempt {r.attempts} of {max_receive}: {error['message']}"[:2000],
                ))  # fmt: skip
                if is_transient(code) and attempt < ATTEMPTS_PER_RUN:
                    retry_rows.append(r)
            run.flush()
        todo = retry_rows
        if todo:
            run.sleep(backoff_seconds(attempt, retry.initial_backoff_seconds,
                                      retry.max_backoff_seconds, run.rng))  # fmt: skip


def _written(run: _Run, r: store.OutboxRow, res: RowResult) -> None:
    """Record a row the CRM accepted (its outbox row is already `done`)."""
    run.report.written += 1
    run.events.append(run.event(
        run.written_action, result="ok", source_ref=r.source_ref,
        object_id=res.record_id or r.record_id,
        target_id=res.record_id or r.record_id, match_value=r.match_value,
        idempotency_key=r.idempotency_key, before=r.before_values, after=r.payload,
        detail="created" if res.created else None,
    ))  # fmt: skip


def _dead_letter(run: _Run, r: store.OutboxRow) -> None:
    store.move_to_dead_letters(run.wh, r, run.run_id)
    run.report.dead_lettered += 1
    last = r.errors[-1] if r.errors else {}
    run.events.append(run.event(
        "dead_lettered", result=str(last.get("code")), source_ref=r.source_ref,
        object_id=r.record_id, target_id=r.record_id, match_value=r.match_value,
        idempotency_key=r.idempotency_key, after=r.payload,
        detail=f"{r.attempts} attempts (max_receive_count); last: {last.get('message')}"[:2000],
    ))  # fmt: skip
