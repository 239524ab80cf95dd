"""The export's state in the warehouse: batches, the outbox and the ledger (DuckDB, Postgres).

- `ops.export_batches`: one row per batch cut for a partition (a day): its status (`sent`,
  `refused`, `empty`), the gate decision's reasons, and the manifest text, so a rerun of a
  delivered day rewrites the same bytes.
- `ops.export_outbox`: every entry of a sent batch (batch id, external id, lines as JSON,
  content hash, idempotency key), written in ONE transaction with its batch row BEFORE
  anything is sent. An outbox entry without a ledger row is pending: sent or not, the next
  run asks the ERP (GET by external id) and records or sends it.
- `ops.export_ledger`: the ERP's answer per entry and content version (`posted`,
  `already_posted`, `rejected` with the ERP's error). Never updated: a posted entry is never
  rewritten; a later correction is a new entry with its own external id.

DDL is create-if-not-exists and identical on both engines; `LEDGER_DDL` is also what the dbt
on-run-start hook creates (dbt_project/macros/landing_tables.sql; a unit test compares them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from q2c.exports.entries import JournalEntry, PostResult
from q2c.warehouse import Warehouse, quote_identifier

BATCHES_DDL = (
    "create table if not exists ops.export_batches ("
    "batch_id text not null primary key, partition_date date not null, status text not null, "
    "entries integer not null, reasons text not null, manifest text, created_at timestamptz "
    "not null, run_id text not null)"
)
OUTBOX_DDL = (
    "create table if not exists ops.export_outbox ("
    "idempotency_key text not null primary key, batch_id text not null, "
    "external_id text not null, content_hash text not null, entry text not null, "
    "queued_at timestamptz not null, run_id text not null)"
)
LEDGER_DDL = (
    "create table if not exists ops.export_ledger ("
    "idempotency_key text not null primary key, external_id text not null, "
    "batch_id text not null, content_hash text not null, status text not null, "
    "erp_transaction_id text, error_code text, error_detail text, "
    "recorded_at timestamptz not null, run_id text not null)"
)
ACCEPTED = ("posted", "already_posted")


@dataclass(frozen=True)
class Batch:
    """A batch as stored."""

    batch_id: str
    partition_date: str
    status: str
    entries: int
    reasons: tuple[str, ...]
    manifest: str | None


@dataclass(frozen=True)
class Pending:
    """An outbox entry without an answer yet."""

    batch_id: str
    entry: JournalEntry


def ensure_tables(wh: Warehouse) -> None:
    """Create the three tables if missing."""
    if "ops.export_*" in wh.prepared:
        return
    with wh.transaction():
        if wh.is_postgres:
            wh.execute("select pg_advisory_xact_lock(hashtext('q2c.landing.ddl'))")
        wh.ensure_schema("ops")
        for ddl in (BATCHES_DDL, OUTBOX_DDL, LEDGER_DDL):
            wh.execute(ddl)
    wh.prepared.add("ops.export_*")


def _now() -> datetime:
    return datetime.now(UTC)


def insert_rows(wh: Warehouse, table: str, rows: Sequence[Sequence[Any]]) -> None:
    """Append `rows` (in the table's column order) to `ops.<table>` as one batch.

    DuckDB: one `INSERT ... SELECT` from a registered Arrow table (executemany runs row by row:
    10,000 rows took 24 s on the shared machine). PostgreSQL: psycopg's pipelined executemany.
    """
    if not rows:
        return
    name = f"ops.{quote_identifier(table)}"
    if wh.is_postgres:
        marks = ", ".join(["%s"] * len(rows[0]))
        with wh.connection.cursor() as cur:
            cur.executemany(f"insert into {name} values ({marks})", rows)
        return
    import pyarrow as pa

    columns = list(zip(*rows, strict=True))
    batch = pa.table({f"c{i}": list(col) for i, col in enumerate(columns)})
    conn = wh.connection
    conn.register("q2c_export_rows", batch)
    try:
        conn.execute(f"insert into {name} select * from q2c_export_rows")
    finally:
        conn.unregister("q2c_export_rows")


def delivered_batch(wh: Warehouse, partition: str) -> Batch | None:
    """The batch already sent (or empty) for `partition`, if any."""
    row = wh.fetchone(
        "select batch_id, cast(partition_date as text), status, entries, reasons, manifest "
        "from ops.export_batches where partition_date = cast(? as date) "
        "and status in ('sent', 'empty') order by created_at limit 1",
        [partition],
    )
    if row is None:
        return None
    return Batch(row[0], row[1], row[2], row[3], tuple(json.loads(row[4])), row[5])


def refused_batches(wh: Warehouse, partition: str) -> int:
    (n,) = wh.fetchone(
        "select count(*) from ops.export_batches where partition_date = cast(? as date) "
        "and status = 'refused'",
        [partition],
    ) or (0,)
    return int(n)


def record_batch(
    wh: Warehouse,
    batch_id: str,
    partition: str,
    status: str,
    entries: Sequence[JournalEntry],
    reasons: Sequence[str],
    manifest: str | None,
    run_id: str,
) -> None:
    """The batch row and, for a sent batch, its outbox rows: one transaction."""
    now = _now()
    with wh.transaction():
        wh.execute(
            "insert into ops.export_batches values (?, cast(? as date), ?, ?, ?, ?, ?, ?)",
            [
                batch_id,
                partition,
                status,
                len(entries),
                json.dumps(list(reasons)),
                manifest,
                now,
                run_id,
            ],
        )
        if status == "sent":
            insert_rows(
                wh,
                "export_outbox",
                [
                    (
                        e.idempotency_key,
                        batch_id,
                        e.external_id,
                        e.content_hash,
                        json.dumps(e.as_json(), sort_keys=True),
                        now,
                        run_id,
                    )
                    for e in entries
                ],
            )


def batch_entries(wh: Warehouse, batch_id: str) -> list[JournalEntry]:
    """The entries of a stored batch, ordered by external id."""
    rows = wh.fetchall(
        "select entry from ops.export_outbox where batch_id = ? order by external_id", [batch_id]
    )
    return [JournalEntry.from_json(json.loads(r[0])) for r in rows]


def pending(wh: Warehouse) -> list[Pending]:
    """Every outbox entry without a ledger row (any batch), ordered by external id."""
    rows = wh.fetchall(
        "select o.batch_id, o.entry from ops.export_outbox as o "
        "where not exists (select 1 from ops.export_ledger as l "
        "where l.idempotency_key = o.idempotency_key) order by o.external_id"
    )
    return [Pending(r[0], JournalEntry.from_json(json.loads(r[1]))) for r in rows]


def rejected_hashes(wh: Warehouse) -> dict[str, str]:
    """{external id: content hash the ERP rejected last} (an unchanged one is not resent)."""
    return dict(
        wh.fetchall(
            "select external_id, content_hash from ops.export_ledger where status = 'rejected' "
            "order by recorded_at"
        )
    )


def record_results(
    wh: Warehouse,
    sent: dict[str, tuple[str, str]],
    results: Sequence[PostResult],
    run_id: str,
) -> None:
    """Ledger rows for answered entries, in one transaction (the outbox keeps the entry).

    Args:
        sent: idempotency key -> (batch id, content hash) of the entries sent.
    """
    now = _now()
    with wh.transaction():
        insert_rows(
            wh,
            "export_ledger",
            [
                (
                    r.idempotency_key,
                    r.external_id,
                    *sent[r.idempotency_key],
                    r.status,
                    r.erp_transaction_id,
                    r.error_code,
                    (r.error_detail or "")[:2000] or None,
                    now,
                    run_id,
                )
                for r in results
            ],
        )


def ledger_counts(wh: Warehouse, batch_id: str) -> dict[str, int]:
    """Ledger rows of one batch by status."""
    return {
        str(s): int(n)
        for s, n in wh.fetchall(
            "select status, count(*) from ops.export_ledger where batch_id = ? group by status",
            [batch_id],
        )
    }
