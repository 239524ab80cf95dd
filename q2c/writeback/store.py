"""`ops.outbox` and `ops.dead_letters`, for DuckDB and PostgreSQL.

The outbox holds every write q2c decided to send, keyed by its idempotency key, and is written
**before** the request leaves: `pending` (stored, not sent), `in_flight` (attempt counted, the
request may have reached the CRM: after a crash the next run reconciles these against the CRM
before resending), `done`, `superseded` (a newer value for the same record replaced it),
`dead` (moved to `ops.dead_letters` after `max_receive_count` attempts). `errors` keeps every
attempt's error, masked for the `dlq` channel.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from q2c.audit.trail import insert_rows
from q2c.landing import _ddl
from q2c.masking import MaskContext, mask_text
from q2c.warehouse import Warehouse

#: what both tables hold about the write itself
_WRITE_COLUMNS = (
    "idempotency_key",
    "flow",
    "target_system",
    "sobject",
    "match_on",
    "operation",
    "match_value",
    "record_id",
    "payload",
)
OUTBOX_COLUMNS = (
    *_WRITE_COLUMNS,
    "before_values",
    "source_ref",
    "status",
    "attempts",
    "errors",
    "run_id",
    "created_at",
    "updated_at",
)
DEAD_COLUMNS = (
    *_WRITE_COLUMNS,
    "source_ref",
    "attempts",
    "errors",
    "error_kind",
    "first_attempt_at",
    "dead_at",
    "run_id",
    "status",
    "redriven_at",
    "redrive_run_id",
)
_JSON = frozenset({"payload", "before_values", "errors"})


@dataclass
class OutboxRow:
    idempotency_key: str
    flow: str
    target_system: str
    sobject: str
    match_on: str
    operation: str
    match_value: str
    record_id: str | None
    payload: dict[str, Any]
    before_values: dict[str, Any] | None
    source_ref: str
    status: str
    attempts: int
    errors: list[dict[str, Any]]
    run_id: str
    created_at: datetime
    updated_at: datetime


def ensure_writeback_tables(wh: Warehouse) -> None:
    """Create `ops.outbox` and `ops.dead_letters` if missing."""
    if "ops.outbox" in wh.prepared:
        return
    js = wh.json_type
    with _ddl(wh):
        wh.ensure_schema("ops")
        wh.execute(
            "create table if not exists ops.outbox (idempotency_key text primary key,"
            " flow text not null, target_system text not null, sobject text not null,"
            " match_on text not null, operation text not null, match_value text not null,"
            f" record_id text, payload {js} not null, before_values {js}, source_ref text,"
            " status text not null, attempts integer not null, errors "
            f"{js} not null, run_id text not null, created_at timestamptz not null,"
            " updated_at timestamptz not null)"
        )
        wh.execute(
            "create index if not exists outbox_status on ops.outbox (flow, status, created_at)"
        )
        wh.execute(
            "create table if not exists ops.dead_letters (idempotency_key text primary key,"
            " flow text not null, target_system text not null, sobject text not null,"
            " match_on text not null, operation text not null, match_value text not null,"
            f" record_id text, payload {js} not null, source_ref text, attempts integer not null,"
            f" errors {js} not null, error_kind text, first_attempt_at timestamptz,"
            " dead_at timestamptz not null, run_id text not null, status text not null,"
            " redriven_at timestamptz, redrive_run_id text)"
        )
    wh.prepared.add("ops.outbox")


def _load(value: Any) -> Any:
    if value is None or isinstance(value, dict | list):
        return value
    return json.loads(value)


def _rows(wh: Warehouse, sql: str, params: Sequence[Any]) -> list[OutboxRow]:
    ensure_writeback_tables(wh)
    out = []
    for raw in wh.fetchall(f"select {', '.join(OUTBOX_COLUMNS)} from ops.outbox {sql}", params):
        item = dict(zip(OUTBOX_COLUMNS, raw, strict=True))
        for col in _JSON:
            item[col] = _load(item[col])
        out.append(OutboxRow(**item))
    return out


def outbox_by_keys(wh: Warehouse, keys: Sequence[str]) -> dict[str, OutboxRow]:
    """Outbox rows by idempotency key (missing keys are absent)."""
    found: dict[str, OutboxRow] = {}
    for start in range(0, len(keys), 500):
        part = list(keys[start : start + 500])
        marks = ", ".join("?" for _ in part)
        for row in _rows(wh, f"where idempotency_key in ({marks})", part):
            found[row.idempotency_key] = row
    return found


def open_rows(wh: Warehouse, flow: str, statuses: Sequence[str]) -> list[OutboxRow]:
    """The flow's outbox rows in `statuses`, oldest first."""
    marks = ", ".join("?" for _ in statuses)
    return _rows(
        wh,
        f"where flow = ? and status in ({marks}) order by created_at, idempotency_key",
        [flow, *statuses],
    )


def insert_pending(wh: Warehouse, rows: Sequence[OutboxRow]) -> None:
    """Store new outbox rows (`pending`) before anything is sent."""
    ensure_writeback_tables(wh)
    values = [
        [json.dumps(getattr(row, c), sort_keys=True, default=str) if c in _JSON
         else getattr(row, c) for c in OUTBOX_COLUMNS]
        for row in rows
    ]  # fmt: skip
    insert_rows(wh, "ops.outbox", OUTBOX_COLUMNS, _JSON, values)


def set_status(
    wh: Warehouse, keys: Sequence[str], status: str, *, count_attempt: bool = False
) -> None:
    """Move rows to `status` (`in_flight` with `count_attempt` counts one more receive)."""
    now = datetime.now(UTC)
    extra = ", attempts = attempts + 1" if count_attempt else ""
    with wh.transaction():
        for start in range(0, len(keys), 500):
            part = list(keys[start : start + 500])
            marks = ", ".join("?" for _ in part)
            wh.execute(
                f"update ops.outbox set status = ?, updated_at = ?{extra}"
                f" where idempotency_key in ({marks})",
                [status, now, *part],
            )


def masked_error(code: str, message: str, fields: Sequence[str], run_id: str) -> dict[str, Any]:
    """One attempt's error as stored (message scrubbed for the `dlq` channel)."""
    return {
        "at": datetime.now(UTC).isoformat(),
        "code": code,
        "message": mask_text(message, MaskContext("dlq")),
        "fields": list(fields),
        "run_id": run_id,
    }


def record_failure(wh: Warehouse, row: OutboxRow, error: dict[str, Any], status: str) -> None:
    """Append an attempt's error to the row and set its status (`pending` to try again)."""
    row.errors = [*row.errors, error]
    row.status = status
    wh.execute(
        f"update ops.outbox set status = ?, errors = cast(? as {wh.json_type}), updated_at = ?"
        " where idempotency_key = ?",
        [status, json.dumps(row.errors), datetime.now(UTC), row.idempotency_key],
    )


def move_to_dead_letters(wh: Warehouse, row: OutboxRow, run_id: str) -> None:
    """Copy the row with every attempt's error into `ops.dead_letters`; the outbox row is
    `dead` (inside the caller's transaction)."""
    js = wh.json_type
    last = row.errors[-1]["code"] if row.errors else None
    first = row.errors[0]["at"] if row.errors else None
    wh.execute("delete from ops.dead_letters where idempotency_key = ?", [row.idempotency_key])
    wh.execute(
        f"insert into ops.dead_letters ({', '.join(DEAD_COLUMNS)}) values (?, ?, ?, ?, ?, ?,"
        f" ?, ?, cast(? as {js}), ?, ?, cast(? as {js}), ?, ?, ?, ?, 'dead', null, null)",
        [
            row.idempotency_key,
            row.flow,
            row.target_system,
            row.sobject,
            row.match_on,
            row.operation,
            row.match_value,
            row.record_id,
            json.dumps(row.payload, sort_keys=True),
            row.source_ref,
            row.attempts,
            json.dumps(row.errors),
            last,
            first,
            datetime.now(UTC),
            run_id,
        ],
    )
    wh.execute(
        "update ops.outbox set status = 'dead', updated_at = ? where idempotency_key = ?",
        [datetime.now(UTC), row.idempotency_key],
    )


def dead_letters(
    wh: Warehouse,
    *,
    sobject: str | None = None,
    error_kind: str | None = None,
    status: str | None = "dead",
    limit: int | None = None,
    key: str | None = None,
) -> list[dict[str, Any]]:
    """Dead letters, oldest first, filtered by object, error kind (code) and status."""
    ensure_writeback_tables(wh)
    where, params = [], []
    for col, value in (("sobject", sobject), ("error_kind", error_kind), ("status", status),
                       ("idempotency_key", key)):  # fmt: skip
        if value is not None:
            where.append(f"{col} = ?")
            params.append(value)
    sql = f"select {', '.join(DEAD_COLUMNS)} from ops.dead_letters"
    if where:
        sql += " where " + " and ".join(where)
    sql += " order by dead_at, idempotency_key"
    if limit is not None:
        sql += f" limit {int(limit)}"
    out = []
    for raw in wh.fetchall(sql, params):
        item = dict(zip(DEAD_COLUMNS, raw, strict=True))
        for col in ("payload", "errors"):
            item[col] = _load(item[col])
        out.append(item)
    return out


def mark_redriven(wh: Warehouse, key: str, run_id: str, status: str = "redriven") -> None:
    """A dead letter was redriven (or found no longer wanted: `dropped`)."""
    wh.execute(
        "update ops.dead_letters set status = ?, redriven_at = ?, redrive_run_id = ?"
        " where idempotency_key = ?",
        [status, datetime.now(UTC), run_id, key],
    )
    wh.execute(
        "update ops.outbox set status = ?, updated_at = ? where idempotency_key = ?",
        ["done" if status == "redriven" else "superseded", datetime.now(UTC), key],
    )


def queue_health(wh: Warehouse, flow: str) -> dict[str, Any]:
    """Outbox depth, oldest pending age (s), DLQ volume and oldest dead letter age (s)."""
    ensure_writeback_tables(wh)
    now = datetime.now(UTC)
    depth, oldest = wh.fetchone(
        "select count(*), min(created_at) from ops.outbox where flow = ?"
        " and status in ('pending', 'in_flight')",
        [flow],
    ) or (0, None)
    dead, oldest_dead = wh.fetchone(
        "select count(*), min(dead_at) from ops.dead_letters where flow = ? and status = 'dead'",
        [flow],
    ) or (0, None)

    def age(ts: Any) -> float | None:
        if ts is None:
            return None
        ts = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
        return round((now - ts).total_seconds(), 1)

    return {
        "outbox_depth": int(depth),
        "oldest_pending_age_s": age(oldest),
        "dlq_volume": int(dead),
        "oldest_dead_letter_age_s": age(oldest_dead),
    }
