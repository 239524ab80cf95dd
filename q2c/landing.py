"""Raw landing: append pages of provider records to `raw.<source>__<object>`, with their cursor.

Contract (docs/INTERFACES.md section 3):
- One table per source object, `raw.<source>__<object>`, columns `object_id`, `provider_ref`,
  `payload` (DuckDB JSON / Postgres jsonb), `payload_hash`, `is_deleted`, `extracted_at`,
  `run_id`. Append-only: a pair `(object_id, payload_hash)` is stored once, ever; a re-delivered
  identical payload counts as a duplicate and stores nothing.
- `payload_hash` is the sha256 of the canonical JSON of the payload (`sort_keys=True`,
  `separators=(",", ":")`, `ensure_ascii=False`), so key order and whitespace do not matter.
- `land_page` is one transaction: insert the new rows and, when a cursor is given, set
  `ops.cursors(source, object)` to it. A crash at any point leaves both as they were, so the
  cursor never runs ahead of the data it covers.
- Rows go in as a batch, never one INSERT per row: DuckDB registers a pyarrow table and runs one
  `INSERT ... SELECT` with an anti-join on the stored hashes; PostgreSQL COPYs into a temp table
  and runs one `INSERT ... SELECT ... ON CONFLICT DO NOTHING` on the unique
  `(object_id, payload_hash)` index.
- Within one page an object id should appear once; if the same `(object_id, payload_hash)` comes
  twice it is stored once and counted once as a duplicate.
- `quarantine` keeps what would not parse in `ops.quarantine` with the reason, the raw text and
  the exact raw bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from q2c.warehouse import Warehouse, quote_identifier

RAW_SCHEMA = "raw"
OPS_SCHEMA = "ops"


@dataclass(frozen=True)
class RawRecord:
    """One provider record, normalized, ready to land.

    Attributes:
        object_id: the provider's id (`in_...`, an 18-character Salesforce Id, `12:3`).
        provider_ref: where this version came from (event id, `SystemModstamp`, posting id).
        payload: the normalized record (JSON-serialisable; amounts never floats).
        is_deleted: True for a deletion tombstone.
    """

    object_id: str
    provider_ref: str | None
    payload: dict[str, Any]
    is_deleted: bool = False


@dataclass(frozen=True)
class LandResult:
    """What one `land_page` call stored."""

    landed: int
    duplicates: int


def canonical_json(payload: Any) -> str:
    """The canonical JSON text of a payload: sorted keys, no whitespace, UTF-8 kept as is."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def payload_hash(payload: Any) -> str:
    """sha256 hex digest of `canonical_json(payload)`."""
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def raw_table_name(source: str, object_name: str) -> str:
    """`<source>__<object>`, validated as an identifier (the table lives in schema `raw`)."""
    return quote_identifier(f"{quote_identifier(source)}__{quote_identifier(object_name)}")


def ensure_ops_tables(wh: Warehouse) -> None:
    """Create `ops.cursors` and `ops.quarantine` if missing."""
    if "ops.*" in wh.prepared:
        return
    wh.ensure_schema(OPS_SCHEMA)
    wh.execute(
        "create table if not exists ops.cursors ("
        " source text not null, object text not null, cursor text,"
        " updated_at timestamptz not null, run_id text,"
        " primary key (source, object))"
    )
    wh.execute(
        "create table if not exists ops.quarantine ("
        " source text not null, object text not null, reason text not null,"
        f" raw text, raw_bytes {wh.bytes_type}, extracted_at timestamptz not null,"
        " run_id text not null)"
    )
    wh.prepared.add("ops.*")


def ensure_raw_table(wh: Warehouse, source: str, object_name: str) -> str:
    """Create `raw.<source>__<object>` (and its unique index on Postgres); return its name."""
    table = raw_table_name(source, object_name)
    if f"{RAW_SCHEMA}.{table}" in wh.prepared:
        return f"{RAW_SCHEMA}.{table}"
    wh.ensure_schema(RAW_SCHEMA)
    wh.execute(
        f"create table if not exists {RAW_SCHEMA}.{table} ("
        " object_id text not null, provider_ref text,"
        f" payload {wh.json_type} not null, payload_hash text not null,"
        " is_deleted boolean not null default false,"
        " extracted_at timestamptz not null, run_id text not null)"
    )
    if wh.is_postgres:
        # The constraint that makes "stored once" hold even with concurrent writers.
        wh.execute(
            f"create unique index if not exists {table}__object_hash_uq"
            f" on {RAW_SCHEMA}.{table} (object_id, payload_hash)"
        )
    # DuckDB: one writing process per file, so the anti-join inside the transaction suffices;
    # an ART index would cost memory proportional to the table on every insert.
    wh.prepared.add(f"{RAW_SCHEMA}.{table}")
    return f"{RAW_SCHEMA}.{table}"


def _page_columns(
    records: Sequence[RawRecord], run_id: str, extracted_at: datetime
) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {
        "ord": [],
        "object_id": [],
        "provider_ref": [],
        "payload": [],
        "payload_hash": [],
        "is_deleted": [],
    }
    for i, rec in enumerate(records):
        if not rec.object_id:
            raise ValueError(f"record {i} of the page has an empty object_id")
        text = canonical_json(rec.payload)
        cols["ord"].append(i)
        cols["object_id"].append(rec.object_id)
        cols["provider_ref"].append(rec.provider_ref)
        cols["payload"].append(text)
        cols["payload_hash"].append(hashlib.sha256(text.encode("utf-8")).hexdigest())
        cols["is_deleted"].append(bool(rec.is_deleted))
    return cols


def _set_cursor(wh: Warehouse, source: str, object_name: str, cursor: str, run_id: str) -> None:
    wh.execute(
        "insert into ops.cursors (source, object, cursor, updated_at, run_id)"
        " values (?, ?, ?, ?, ?)"
        " on conflict (source, object) do update set cursor = excluded.cursor,"
        " updated_at = excluded.updated_at, run_id = excluded.run_id",
        [source, object_name, cursor, datetime.now(UTC), run_id],
    )


def _insert_duckdb(
    wh: Warehouse, table: str, cols: dict[str, list[Any]], run_id: str, extracted_at: datetime
) -> int:
    import pyarrow as pa

    page = pa.table(
        {
            "ord": pa.array(cols["ord"], pa.int64()),
            "object_id": pa.array(cols["object_id"], pa.string()),
            "provider_ref": pa.array(cols["provider_ref"], pa.string()),
            "payload": pa.array(cols["payload"], pa.string()),
            "payload_hash": pa.array(cols["payload_hash"], pa.string()),
            "is_deleted": pa.array(cols["is_deleted"], pa.bool_()),
        }
    )
    conn = wh.connection
    view = "q2c_landing_page"
    conn.register(view, page)
    try:
        row = conn.execute(
            f"insert into {table} (object_id, provider_ref, payload, payload_hash, is_deleted,"
            " extracted_at, run_id)"
            " select p.object_id, p.provider_ref, p.payload::json, p.payload_hash, p.is_deleted,"
            " ?::timestamptz, ?"
            f" from {view} p"
            " where not exists (select 1 from "
            f"{table} t where t.object_id = p.object_id and t.payload_hash = p.payload_hash)"
            " qualify row_number() over (partition by p.object_id, p.payload_hash"
            " order by p.ord) = 1"
            " order by p.ord",
            [extracted_at, run_id],
        ).fetchone()
    finally:
        conn.unregister(view)
    return int(row[0]) if row else 0


def _insert_postgres(
    wh: Warehouse, table: str, cols: dict[str, list[Any]], run_id: str, extracted_at: datetime
) -> int:
    conn = wh.connection
    conn.execute(
        "create temp table if not exists q2c_landing_page (ord bigint, object_id text,"
        " provider_ref text, payload text, payload_hash text, is_deleted boolean)"
        " on commit delete rows"
    )
    with conn.cursor() as cur:
        with cur.copy(
            "copy q2c_landing_page (ord, object_id, provider_ref, payload, payload_hash,"
            " is_deleted) from stdin"
        ) as copy:
            for row in zip(
                cols["ord"],
                cols["object_id"],
                cols["provider_ref"],
                cols["payload"],
                cols["payload_hash"],
                cols["is_deleted"],
                strict=True,
            ):
                copy.write_row(row)
        cur.execute(
            f"insert into {table} (object_id, provider_ref, payload, payload_hash, is_deleted,"
            " extracted_at, run_id)"
            " select object_id, provider_ref, payload::jsonb, payload_hash, is_deleted, %s, %s"
            " from (select distinct on (object_id, payload_hash) * from q2c_landing_page"
            "       order by object_id, payload_hash, ord) p"
            " order by ord"
            " on conflict (object_id, payload_hash) do nothing",
            [extracted_at, run_id],
        )
        return cur.rowcount


def land_page(
    wh: Warehouse,
    source: str,
    object_name: str,
    records: Sequence[RawRecord],
    *,
    run_id: str,
    cursor: str | None = None,
) -> LandResult:
    """Land one page of records and (optionally) advance the cursor, in one transaction.

    Args:
        wh: the warehouse.
        source: `billing`, `salesforce` or `erp`.
        object_name: the object (`invoice`, `account`, `transaction_line`...).
        records: the normalized records of the page (may be empty to move only the cursor).
        run_id: the Dagster run id (or `manual-...`).
        cursor: the cursor value that holds once these rows are stored; None leaves it.

    Returns:
        How many rows were stored and how many were already there (same id and hash).
    """
    table = ensure_raw_table(wh, source, object_name)
    ensure_ops_tables(wh)
    extracted_at = datetime.now(UTC)
    cols = _page_columns(records, run_id, extracted_at)
    with wh.transaction():
        landed = 0
        if records:
            if wh.is_postgres:
                landed = _insert_postgres(wh, table, cols, run_id, extracted_at)
            else:
                landed = _insert_duckdb(wh, table, cols, run_id, extracted_at)
        if cursor is not None:
            _set_cursor(wh, source, object_name, cursor, run_id)
    return LandResult(landed=landed, duplicates=len(records) - landed)


def get_cursor(wh: Warehouse, source: str, object_name: str) -> str | None:
    """The committed cursor of `source`/`object_name`, or None before the first landing."""
    ensure_ops_tables(wh)
    row = wh.fetchone(
        "select cursor from ops.cursors where source = ? and object = ?", [source, object_name]
    )
    return row[0] if row else None


def quarantine(
    wh: Warehouse,
    source: str,
    object_name: str,
    reason: str,
    raw: str | bytes,
    *,
    run_id: str,
) -> None:
    """Keep a record or page that would not parse, with the reason, for someone to look at.

    The exact bytes go to `raw_bytes`; `raw` holds them as text (invalid UTF-8 escaped) so the
    table can be read without decoding.
    """
    ensure_ops_tables(wh)
    raw_bytes = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    raw_text = raw if isinstance(raw, str) else raw_bytes.decode("utf-8", "backslashreplace")
    wh.execute(
        "insert into ops.quarantine (source, object, reason, raw, raw_bytes, extracted_at, run_id)"
        " values (?, ?, ?, ?, ?, ?, ?)",
        [source, object_name, reason, raw_text, raw_bytes, datetime.now(UTC), run_id],
    )
