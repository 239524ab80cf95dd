"""`ops.audit_trail`: append-only, for DuckDB and PostgreSQL.

One row per event on one record: source system and reference (billing event/object, a
`SystemModstamp`, a posting id), the object and its id, the target system/object/id, the action
(`ACTIONS`), before/after/losing values (masked for the contract's `audit` channel before they are
stored), the idempotency key, run id, actor, time and result. Nothing updates or deletes a row;
`seq` orders them (a sequence in DuckDB, `bigserial` in PostgreSQL).

The write-back reads its diff baseline from here (`last_pushed`): the after-values of the
`written` rows, folded per record and field in `seq` order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from q2c.landing import _ddl
from q2c.masking import MaskContext, MaskingPolicy, default_policy, mask_record
from q2c.warehouse import Warehouse

#: what can happen to a record (issue 11): the write-back uses the ones it does; `landed`,
#: `modeled` and `exported` are for the other stages' events
ACTIONS = (
    "landed",
    "modeled",
    "exported",
    "would_write",  # read_only phase: what the write-back would have sent
    "written",
    "skipped_duplicate",
    "conflict_lost",
    "refused",  # a field outside the write set
    "held_by_gate",
    "held_for_review",  # an open review item names the record (q2c review)
    "paused",  # kill switch, phase or max_writes_per_run stopped a batch
    "attempt_failed",
    "dead_lettered",
    "redriven",
    "rolled_back",
    "notified",  # a finance notification delivered to the webhook (automations)
    "erased",  # a person's PII redacted on request (q2c/erasure.py)
)
#: actions whose `after` is now the CRM's value as q2c wrote it
PUSHED_ACTIONS = ("written", "redriven", "rolled_back")

_COLUMNS = (
    "recorded_at",
    "run_id",
    "actor",
    "flow",
    "action",
    "result",
    "source_system",
    "source_ref",
    "object_type",
    "object_id",
    "target_system",
    "target_object",
    "target_id",
    "match_value",
    "idempotency_key",
    "before_values",
    "after_values",
    "losing_values",
    "detail",
)
_JSON_COLUMNS = frozenset({"before_values", "after_values", "losing_values"})


@dataclass(frozen=True)
class AuditEvent:
    """One event on one record (values are masked for the `audit` channel when stored)."""

    action: str
    run_id: str
    actor: str
    flow: str | None = None
    result: str | None = None
    source_system: str | None = None
    source_ref: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    target_system: str | None = None
    target_object: str | None = None
    target_id: str | None = None
    match_value: str | None = None
    idempotency_key: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    losing: dict[str, Any] | None = None
    detail: str | None = None
    recorded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown audit action {self.action!r}; use one of {ACTIONS}")


def ensure_audit_table(wh: Warehouse) -> None:
    """Create `ops.audit_trail` (and its sequence in DuckDB) if missing."""
    if "ops.audit_trail" in wh.prepared:
        return
    with _ddl(wh):
        wh.ensure_schema("ops")
        if wh.is_postgres:
            seq = "seq bigserial primary key"
        else:
            wh.execute("create sequence if not exists ops.audit_trail_seq")
            seq = "seq bigint primary key default nextval('ops.audit_trail_seq')"
        js = wh.json_type
        wh.execute(
            f"create table if not exists ops.audit_trail ({seq},"
            " recorded_at timestamptz not null, run_id text not null, actor text not null,"
            " flow text, action text not null, result text, source_system text,"
            " source_ref text, object_type text, object_id text, target_system text,"
            " target_object text, target_id text, match_value text, idempotency_key text,"
            f" before_values {js}, after_values {js}, losing_values {js}, detail text)"
        )
        for col in ("object_id", "target_id", "match_value", "idempotency_key"):
            wh.execute(f"create index if not exists audit_trail_{col} on ops.audit_trail ({col})")
    wh.prepared.add("ops.audit_trail")


#: rows per multi-row INSERT on PostgreSQL (19 columns x 500 stays far below its 65,535
#: parameters)
INSERT_CHUNK = 500


def insert_rows(
    wh: Warehouse,
    table: str,
    columns: Sequence[str],
    json_columns: Iterable[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    """Insert `rows` in one transaction: DuckDB reads them as one registered Arrow table (a
    statement per row, or many-parameter VALUES lists, cost 1 ms and 180 ms each there);
    PostgreSQL takes multi-row `VALUES` statements."""
    if not rows:
        return
    js = set(json_columns)
    names = ", ".join(columns)
    with wh.transaction():
        if not wh.is_postgres:
            import pyarrow as pa

            page = pa.table({c: [row[k] for row in rows] for k, c in enumerate(columns)})
            view = "q2c_audit_rows"
            cols = ", ".join(f"cast({c} as json)" if c in js else c for c in columns)
            wh.connection.register(view, page)
            try:
                wh.execute(f"insert into {table} ({names}) select {cols} from {view}")
            finally:
                wh.connection.unregister(view)
            return
        one = "(" + ", ".join(f"cast(? as {wh.json_type})" if c in js else "?" for c in columns)
        one += ")"
        for start in range(0, len(rows), INSERT_CHUNK):
            part = rows[start : start + INSERT_CHUNK]
            values = ", ".join([one] * len(part))
            wh.execute(f"insert into {table} ({names}) values {values}",
                       [v for row in part for v in row])  # fmt: skip


def _masked(values: dict[str, Any] | None, event: AuditEvent, policy: MaskingPolicy) -> str | None:
    if values is None:
        return None
    ctx = MaskContext("audit", event.target_system, event.target_object or event.object_type)
    return json.dumps(mask_record(values, ctx, policy), sort_keys=True, default=str)


def _row(event: AuditEvent, policy: MaskingPolicy) -> list[Any]:
    out: list[Any] = []
    for col in _COLUMNS:
        if col in _JSON_COLUMNS:
            out.append(_masked(getattr(event, col.removesuffix("_values")), event, policy))
        else:
            out.append(getattr(event, col))
    return out


def record_events(wh: Warehouse, events: Iterable[AuditEvent]) -> int:
    """Append `events` (in one transaction, or the caller's)."""
    ensure_audit_table(wh)
    policy = default_policy()  # once: finding the contract reads the environment every call
    rows = [_row(e, policy) for e in events]
    insert_rows(wh, "ops.audit_trail", _COLUMNS, _JSON_COLUMNS, rows)
    return len(rows)


def _json(value: Any) -> Any:
    if value is None or isinstance(value, dict | list):
        return value
    return json.loads(value)


def last_pushed(wh: Warehouse, target_system: str, target_object: str) -> dict[str, dict[str, Any]]:
    """The last value q2c wrote per record (`match_value`) and field, from the audit trail."""
    ensure_audit_table(wh)
    rows = wh.fetchall(
        "select match_value, after_values from ops.audit_trail where target_system = ? and"
        f" target_object = ? and action in ({', '.join(repr(a) for a in PUSHED_ACTIONS)})"
        " and result = 'ok'"
        " order by seq",
        [target_system, target_object],
    )
    state: dict[str, dict[str, Any]] = {}
    for match_value, after in rows:
        state.setdefault(match_value, {}).update(_json(after) or {})
    return state


def events_for(wh: Warehouse, ids: Sequence[str]) -> list[dict[str, Any]]:
    """Every audit row naming one of `ids` (object, target, record key or idempotency key)."""
    ensure_audit_table(wh)
    if not ids:
        return []
    marks = ", ".join("?" for _ in ids)
    cols = ("seq", *_COLUMNS)
    rows = wh.fetchall(
        f"select {', '.join(cols)} from ops.audit_trail where object_id in ({marks})"
        f" or target_id in ({marks}) or match_value in ({marks})"
        f" or idempotency_key in ({marks}) order by seq",
        [*ids, *ids, *ids, *ids],
    )
    out = []
    for row in rows:
        item = dict(zip(cols, row, strict=True))
        for col in _JSON_COLUMNS:
            item[col] = _json(item[col])
        out.append(item)
    return out


def existing_keys(wh: Warehouse, action: str, keys: Sequence[str]) -> set[str]:
    """Which of `keys` already have an `action` row (so a repeated event is recorded once)."""
    ensure_audit_table(wh)
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        part = list(keys[start : start + 500])
        marks = ", ".join("?" for _ in part)
        rows = wh.fetchall(
            "select distinct idempotency_key from ops.audit_trail where action = ?"
            f" and idempotency_key in ({marks})",
            [action, *part],
        )
        found |= {r[0] for r in rows}
    return found
