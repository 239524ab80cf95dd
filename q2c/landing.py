"""Raw landing: append pages of provider records to `raw.<source>__<object>`, with their cursor.

Contract (docs/INTERFACES.md section 3):
- One table per source object, `raw.<source>__<object>`, columns `object_id`, `provider_ref`,
  `payload` (DuckDB JSON / Postgres jsonb), `payload_hash`, `is_deleted`, `extracted_at`,
  `run_id`. Append-only: a record is stored when its payload differs from the latest stored
  version of the same object (the version staging reads: newest `extracted_at`, then
  `provider_ref`, then hash). A re-delivered identical payload counts as a duplicate and stores
  nothing; an object that changes A -> B -> A lands A again, so staging shows A, not B.
- `payload_hash` is the sha256 of the canonical JSON of the payload (`sort_keys=True`,
  `separators=(",", ":")`, `ensure_ascii=False`), so key order and whitespace do not matter.
- `land_page` is one transaction: insert the new rows and, when a cursor is given, set
  `ops.cursors(source, object)` to it. A crash at any point leaves both as they were, so the
  cursor never runs ahead of the data it covers.
- Rows go in as a batch, never one INSERT per row: DuckDB registers a pyarrow table, PostgreSQL
  COPYs into a temp table; then one `INSERT ... SELECT` compares each record with the latest
  stored version of its object. On PostgreSQL a transaction-scoped advisory lock per raw table
  serializes concurrent landers of the same table, so two of them cannot both append the same
  version; an index on `object_id` keeps the comparison cheap.
- Within one page an object id should appear once; if it comes twice, a record equal to the one
  before it in the page is a duplicate (stored nothing, counted once).
- `quarantine` keeps what would not parse in `ops.quarantine` with the reason, the raw text's
  sha256 and length, and the raw text and bytes as the contract's `sensitivity.quarantine.keep_raw`
  says: `exact` (as received), `masked` (the default: masked for the `dlq` channel, so the
  table holds no more PII than a dead letter) or `none`.
- The one home of two rules other layers mirror: the raw table's columns (`RAW_COLUMNS_DDL`,
  `raw_table_ddl`; the dbt on-run-start hook `create_landing_tables` and the test loader create
  the same table) and which landed version is an object's latest (`LATEST_VERSION_ORDER`,
  `latest_versions_sql`; staging's `latest_version` macro orders the same way). A unit test
  (tests/unit/test_landing_rules.py) fails when a mirror drifts.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from q2c.masking import MaskContext, default_policy, mask_record, mask_text
from q2c.policy.loader import default_contract
from q2c.warehouse import Warehouse, quote_identifier

KeepRaw = Literal["exact", "masked", "none"]

RAW_SCHEMA = "raw"
OPS_SCHEMA = "ops"

#: The landing columns of every raw table; `{json}` is the warehouse's JSON type (DuckDB `json`,
#: PostgreSQL `jsonb`).
RAW_COLUMNS_DDL = (
    "object_id text not null, provider_ref text, payload {json} not null,"
    " payload_hash text not null, is_deleted boolean not null default false,"
    " extracted_at timestamptz not null, run_id text not null"
)
#: How an object's latest landed version is picked: the newest `extracted_at`, ties (one page
#: lands at one instant) broken by the newest `provider_ref`, then the payload hash so the pick
#: is deterministic.
LATEST_VERSION_ORDER: tuple[tuple[str, str], ...] = (
    ("extracted_at", "desc"),
    ("provider_ref", "desc nulls last"),
    ("payload_hash", "desc"),
)


def raw_table_ddl(qualified_table: str, json_type: str) -> str:
    """`create table if not exists` of one raw table (`raw.billing__invoice`, `json`/`jsonb`)."""
    columns = RAW_COLUMNS_DDL.format(json=json_type)
    return f"create table if not exists {qualified_table} ({columns})"


def latest_version_order(alias: str | None = None) -> str:
    """The `order by` list of `LATEST_VERSION_ORDER`, columns qualified by `alias` if given."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(f"{prefix}{column} {direction}" for column, direction in LATEST_VERSION_ORDER)


def latest_versions_sql(qualified_table: str, where: str | None = None) -> str:
    """`select` of each object's latest version in a raw table (the rows of `where` only).

    The result has the raw table's columns; wrap it to filter (`... where not is_deleted`).
    """
    condition = f" where {where}" if where else ""
    return (
        "select ranked.object_id, ranked.provider_ref, ranked.payload, ranked.payload_hash,"
        " ranked.is_deleted, ranked.extracted_at, ranked.run_id from ("
        " select stored.*, row_number() over (partition by stored.object_id"
        f" order by {latest_version_order('stored')}) as version_rank"
        f" from {qualified_table} stored{condition}"
        ") ranked where ranked.version_rank = 1"
    )


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
    with _ddl(wh):
        _create_ops_tables(wh)
    wh.prepared.add("ops.*")


@contextmanager
def _ddl(wh: Warehouse) -> Iterator[None]:
    """One transaction for `create ... if not exists`, serialized across PostgreSQL sessions.

    PostgreSQL's `if not exists` is not safe against a concurrent create of the same name (the
    loser fails on the catalog's unique index), and the multiprocess executor lands from many
    processes at once.
    """
    with wh.transaction():
        if wh.is_postgres:
            wh.execute("select pg_advisory_xact_lock(hashtext('q2c.landing.ddl'))")
        yield


def _create_ops_tables(wh: Warehouse) -> None:
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
        " run_id text not null, raw_sha256 text, raw_length bigint)"
    )
    # tables created before the raw text was kept by the contract's rule
    for column, kind in (("raw_sha256", "text"), ("raw_length", "bigint")):
        wh.execute(f"alter table ops.quarantine add column if not exists {column} {kind}")


def ensure_raw_table(wh: Warehouse, source: str, object_name: str) -> str:
    """Create `raw.<source>__<object>` (and its `object_id` index on Postgres); return its name."""
    table = raw_table_name(source, object_name)
    if f"{RAW_SCHEMA}.{table}" in wh.prepared:
        return f"{RAW_SCHEMA}.{table}"
    with _ddl(wh):
        _create_raw_table(wh, table)
    wh.prepared.add(f"{RAW_SCHEMA}.{table}")
    return f"{RAW_SCHEMA}.{table}"


def _create_raw_table(wh: Warehouse, table: str) -> None:
    wh.ensure_schema(RAW_SCHEMA)
    wh.execute(raw_table_ddl(f"{RAW_SCHEMA}.{table}", wh.json_type))
    if wh.is_postgres:
        # Tables created before versions could repeat (A -> B -> A) carried a unique index on
        # (object_id, payload_hash); it would refuse the second A.
        wh.execute(f"drop index if exists {RAW_SCHEMA}.{table}__object_hash_uq")
        wh.execute(
            f"create index if not exists {table}__object_id_ix on {RAW_SCHEMA}.{table} (object_id)"
        )
    # DuckDB: one writing process per file, so the comparison inside the transaction suffices;
    # an ART index would cost memory proportional to the table on every insert.


def _insert_new_versions_sql(table: str, page: str, json_type: str, param: str) -> str:
    """INSERT of the page's records that differ from their object's latest stored version.

    A record is compared with the record before it of the same object in the page, else with
    the latest stored version, ordered as staging's `latest_version` macro orders them
    (dbt_project/macros/latest_version.sql), so "new" means "staging would see a change".
    `param` is the driver's placeholder (`?` or `%s`) for `extracted_at` and `run_id`.
    """
    page_with_previous = (
        "select page_rows.*, lag(page_rows.payload_hash) over"
        " (partition by page_rows.object_id order by page_rows.ord) as previous_hash"
        f" from {page} page_rows"
    )
    latest_stored = latest_versions_sql(
        table, where=f"stored.object_id in (select object_id from {page})"
    )
    return (
        f"insert into {table} (object_id, provider_ref, payload, payload_hash, is_deleted,"
        " extracted_at, run_id)"
        f" select p.object_id, p.provider_ref, p.payload::{json_type}, p.payload_hash,"
        f" p.is_deleted, {param}::timestamptz, {param}"
        f" from ({page_with_previous}) p"
        f" left join ({latest_stored}) s on s.object_id = p.object_id"
        " where p.payload_hash is distinct from coalesce(p.previous_hash, s.payload_hash)"
        " order by p.ord"
    )


def _page_columns(records: Sequence[RawRecord]) -> dict[str, list[Any]]:
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


def _insert_duckdb(wh: Warehouse, table: str, cols: dict[str, list[Any]], run_id: str) -> int:
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
    extracted_at = datetime.now(UTC)
    conn.register(view, page)
    try:
        row = conn.execute(
            _insert_new_versions_sql(table, view, "json", "?"),
            [extracted_at, run_id],
        ).fetchone()
    finally:
        conn.unregister(view)
    return int(row[0]) if row else 0


def _insert_postgres(wh: Warehouse, table: str, cols: dict[str, list[Any]], run_id: str) -> int:
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
        # Serialize landers of this table until commit: the comparison below reads the latest
        # stored versions, and two concurrent transactions must not both append the same one.
        # The landing time is read once the lock is held, so `extracted_at` orders versions as
        # they were committed.
        cur.execute("select pg_advisory_xact_lock(hashtext(%s))", [f"q2c.landing.{table}"])
        extracted_at = datetime.now(UTC)
        cur.execute(
            _insert_new_versions_sql(table, "q2c_landing_page", "jsonb", "%s"),
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
    cols = _page_columns(records)
    with wh.transaction():
        landed = 0
        if records:
            if wh.is_postgres:
                landed = _insert_postgres(wh, table, cols, run_id)
            else:
                landed = _insert_duckdb(wh, table, cols, run_id)
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
    keep_raw: KeepRaw | None = None,
) -> None:
    """Keep a record or page that would not parse, with the reason, for someone to look at.

    `raw_sha256` and `raw_length` are those of the bytes as received (to find the record at its
    source); `raw` (text, invalid UTF-8 escaped) and `raw_bytes` hold them as `keep_raw` says
    (default: the contract's `sensitivity.quarantine.keep_raw`): `exact`, `masked` or `none`.
    """
    ensure_ops_tables(wh)
    raw_bytes = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    raw_text = raw if isinstance(raw, str) else raw_bytes.decode("utf-8", "backslashreplace")
    rule = keep_raw or default_contract().sensitivity.quarantine.keep_raw
    kept_text: str | None = raw_text
    kept_bytes: bytes | None = raw_bytes
    if rule == "none":
        kept_text = kept_bytes = None
    elif rule == "masked":
        kept_text = mask_raw_text(raw_text, source, object_name)
        kept_bytes = kept_text.encode("utf-8")
    wh.execute(
        "insert into ops.quarantine (source, object, reason, raw, raw_bytes, extracted_at, run_id,"
        " raw_sha256, raw_length) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            source,
            object_name,
            mask_text(reason, MaskContext("dlq")),
            kept_text,
            kept_bytes,
            datetime.now(UTC),
            run_id,
            hashlib.sha256(raw_bytes).hexdigest(),
            len(raw_bytes),
        ],
    )


#: a JSON string member (`"key": "value"`), found in text that may not parse as a whole
_JSON_MEMBER = re.compile(r'"([^"\\]{1,100})"\s*:\s*"((?:[^"\\]|\\.)*)"')


def mask_raw_text(text: str, source: str, object_name: str) -> str:
    """Raw text masked for the `dlq` channel: parsed JSON through `mask_record`; text that does
    not parse has the string members under a sensitive key (the contract's keys and the
    object's field names) removed wherever they appear, then is scrubbed for the patterns."""
    ctx = MaskContext("dlq", source, object_name)
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict | list):
        return json.dumps(mask_record(parsed, ctx), ensure_ascii=False)
    policy = default_policy()
    leaves = {p[-1].lower() for p in policy.patterns_for(source, object_name).exact if p}
    known = tuple(
        value
        for key, value in _JSON_MEMBER.findall(text)
        if value and (key.lower() in policy.keys or key.lower() in leaves)
    )
    return mask_text(text, ctx, known, policy)
