"""TEST LOADER: fill the `raw.*` landing tables straight from a generated world directory.

This is a test and development shortcut, not the pipeline. The real path from the systems to
`raw.*` is the extractors (`extractors/`, through the stand-ins' HTTP APIs and
`q2c.landing.land_page`). This module skips HTTP and reads the world's SQLite files directly so
that the dbt project can be built and tested in seconds, and it applies the normalization of
docs/INTERFACES.md section 3 so the rows look like what the extractors land:

- billing (`billing.sqlite`): one table per Stripe `object` value, `raw.billing__<object>`,
  payload = the object JSON as the API returns it; a deleted object lands twice, as the
  extractor sees it: its live version (an hour earlier) and then a tombstone
  `{"id", "object", "deleted": true}` with `is_deleted`;
  `provider_ref` = the event id for events, the parent's id for children (`line_item` ->
  its invoice, `subscription_item` -> its subscription), null for listed objects. Also
  `raw.billing__payout_balance_transaction`: one row per balance transaction a payout settled
  (the payout-scoped list, `GET /v1/balance_transactions?payout=po_...`), object id
  `<payout id>:<txn id>`, payload = the balance transaction.
- Salesforce (`salesforce.sqlite`): `raw.salesforce__<sobject lowercased>`, payload = field API
  name -> value, currency/double/percent fields as decimal strings (exact, from the JSON text),
  datetimes as `YYYY-MM-DDTHH:MM:SS.000Z`, booleans as booleans; `provider_ref` = the
  normalized `SystemModstamp`; `is_deleted` = `IsDeleted`.
- ERP (`erp.sqlite`): `raw.erp__<table>`, payload = lowercase column -> value as strings (nulls
  stay null); object id = `id` (transaction lines: `<transaction>:<id>`; payment application
  links `previoustransactionlinelink`: `<previousdoc>:<previousline>:<nextdoc>:<nextline>`);
  `provider_ref` =
  `lastmodifieddate` where the table has one.

Every row carries `payload_hash` (sha256 of the canonical JSON), `extracted_at` (the world's
clock, so reruns give the same bytes) and `run_id`. Works on a DuckDB file and on Postgres.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any

from q2c.landing import raw_table_ddl
from sandbox.world.salesforce_schema import SOBJECTS

RAW_COLUMNS = (
    "object_id",
    "provider_ref",
    "payload",
    "payload_hash",
    "is_deleted",
    "extracted_at",
    "run_id",
)
DEFAULT_RUN_ID = "manual-raw-from-world"
BATCH_ROWS = 50_000  # rows per Arrow batch into DuckDB: bounded memory at any scale
#: records per `land_page` call in `land_world` (extractor pages are 100; q2c's own DuckDB
#: connection runs under Q2C_DUCKDB_CONNECTION_MEMORY_LIMIT)
LAND_PAGE_ROWS = 1_000
_SF_DECIMAL_TYPES = {"currency", "double", "percent"}
_ERP_TABLES = (
    "subsidiary",
    "currency",
    "account",
    "accountingperiod",
    "customer",
    "transaction",
    "transactionline",
    "previoustransactionlinelink",
)


@dataclass(frozen=True)
class RawRow:
    """One landing row before it is written."""

    object_id: str
    provider_ref: str | None
    payload: str  # canonical JSON text
    payload_hash: str
    is_deleted: bool
    age_seconds: int = 0  # landed this long before the load's `extracted_at`


def _decimal_default(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def canonical_json(payload: dict[str, Any]) -> str:
    """The canonical JSON of a payload: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_decimal_default
    )


def make_row(
    object_id: str,
    provider_ref: str | None,
    payload: dict[str, Any],
    is_deleted: bool,
    age_seconds: int = 0,
) -> RawRow:
    """Build a landing row with its payload hash."""
    text = canonical_json(payload)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return RawRow(object_id, provider_ref, text, digest, is_deleted, age_seconds)


def normalize_sf_datetime(value: str | None) -> str | None:
    """`2026-01-02T03:04:05.000+0000` -> `2026-01-02T03:04:05.000Z` (INTERFACES.md section 3)."""
    if value is None:
        return None
    if value.endswith("+0000"):
        return value[: -len("+0000")] + "Z"
    if value.endswith("Z"):
        return value
    raise ValueError(f"unexpected Salesforce datetime {value!r}: expected a +0000 or Z suffix")


def normalize_sf_record(sobject: str, body: dict[str, Any]) -> dict[str, Any]:
    """Normalize one Salesforce record body (parsed with `parse_float=Decimal`)."""
    fields = {f.name: f for f in SOBJECTS.get(sobject, [])}
    out: dict[str, Any] = {}
    for name, value in body.items():
        if name == "attributes":
            continue
        field = fields.get(name)
        ftype = field.type if field else None
        if value is None:
            out[name] = None
        elif ftype in _SF_DECIMAL_TYPES:
            if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
                raise ValueError(f"{sobject}.{name}: expected a number, got {value!r}")
            out[name] = str(Decimal(str(value)))
        elif ftype == "datetime":
            out[name] = normalize_sf_datetime(value)
        else:
            out[name] = value
    return out


def normalize_erp_row(row: sqlite3.Row) -> dict[str, str | None]:
    """ERP payload: lowercase column -> value as a string, nulls kept as null."""
    return {k.lower(): (None if row[k] is None else str(row[k])) for k in row.keys()}  # noqa: SIM118 - a Row iterates values


def _connect(path: Path) -> sqlite3.Connection:
    if not path.exists():
        raise FileNotFoundError(f"world file missing: {path}")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    return con


def world_now(world_dir: Path) -> datetime:
    """The world's clock (`meta.now` of billing.sqlite) as an aware UTC datetime."""
    with _connect(world_dir / "billing.sqlite") as con:
        (now,) = con.execute("select value from meta where key = 'now'").fetchone()
    return datetime.fromtimestamp(int(now), tz=UTC)


def _billing_rows(con: sqlite3.Connection, obj: str) -> Iterator[RawRow]:
    for r in con.execute(
        "select id, parent, deleted, body from objects where object = ? order by id", (obj,)
    ):
        payload = json.loads(r["body"])
        # as the extractor does: events carry their own id, children their parent's
        ref = r["id"] if obj == "event" else r["parent"]
        if r["deleted"]:
            # the extractor saw the live object first, then a tombstone
            yield make_row(r["id"], ref, payload, False, age_seconds=3_600)
            yield make_row(r["id"], ref, {"id": r["id"], "object": obj, "deleted": True}, True)
        else:
            yield make_row(r["id"], ref, payload, False)


def _payout_balance_transaction_rows(con: sqlite3.Connection) -> Iterator[RawRow]:
    for r in con.execute(
        "select id, payout, body from objects"
        " where object = 'balance_transaction' and payout is not null order by payout, id"
    ):
        yield make_row(f"{r['payout']}:{r['id']}", r["payout"], json.loads(r["body"]), False)


def billing_tables(world_dir: Path) -> Iterator[tuple[str, Iterator[RawRow]]]:
    """Yield (`billing__<object>`, rows) for every billing object type, then the payout list.

    The rows of a table are a lazy iterator over one open SQLite cursor: consume each table's
    rows before moving to the next table (the writers do), so an L world streams through in
    batches instead of sitting in memory.
    """
    con = _connect(world_dir / "billing.sqlite")
    try:
        objects = [r[0] for r in con.execute("select distinct object from objects order by 1")]
        for obj in objects:
            yield f"billing__{obj}", _billing_rows(con, obj)
        yield "billing__payout_balance_transaction", _payout_balance_transaction_rows(con)
    finally:
        con.close()


def _salesforce_rows(con: sqlite3.Connection, sobject: str) -> Iterator[RawRow]:
    for r in con.execute(
        "select id, is_deleted, body from records where sobject = ? order by id", (sobject,)
    ):
        payload = normalize_sf_record(sobject, json.loads(r["body"], parse_float=Decimal))
        ref = payload.get("SystemModstamp")
        yield make_row(r["id"], ref, payload, bool(r["is_deleted"]))


def salesforce_tables(world_dir: Path) -> Iterator[tuple[str, Iterator[RawRow]]]:
    """Yield (`salesforce__<sobject>`, rows) for every sobject in the world (rows are lazy)."""
    con = _connect(world_dir / "salesforce.sqlite")
    try:
        sobjects = [r[0] for r in con.execute("select distinct sobject from records order by 1")]
        for sobject in sobjects:
            yield f"salesforce__{sobject.lower()}", _salesforce_rows(con, sobject)
    finally:
        con.close()


def _erp_rows(con: sqlite3.Connection, table: str) -> Iterator[RawRow]:
    link_keys = ("previousdoc", "previousline", "nextdoc", "nextline")
    for r in con.execute(f'select * from "{table}"'):  # fixed names, quoted: `transaction`
        payload = normalize_erp_row(r)
        if table == "transactionline":
            object_id = f"{payload['transaction']}:{payload['id']}"
        elif table == "previoustransactionlinelink":
            object_id = ":".join(str(payload[k]) for k in link_keys)
        else:
            object_id = str(payload["id"])
        yield make_row(object_id, payload.get("lastmodifieddate"), payload, False)


def erp_tables(world_dir: Path) -> Iterator[tuple[str, Iterator[RawRow]]]:
    """Yield (`erp__<table>`, rows) for the ERP tables the extractor reads (rows are lazy)."""
    con = _connect(world_dir / "erp.sqlite")
    try:
        for table in _ERP_TABLES:
            yield f"erp__{table}", _erp_rows(con, table)
    finally:
        con.close()


def world_raw_tables(world_dir: Path) -> Iterator[tuple[str, Iterator[RawRow]]]:
    """Every raw table of the world, billing then Salesforce then ERP."""
    yield from billing_tables(world_dir)
    yield from salesforce_tables(world_dir)
    yield from erp_tables(world_dir)


def _batches(rows: Iterator[RawRow], size: int = BATCH_ROWS) -> Iterator[list[RawRow]]:
    rows = iter(rows)
    while batch := list(islice(rows, size)):
        yield batch


def _write_duckdb(
    path: Path, tables: Iterator[tuple[str, Iterator[RawRow]]], extracted_at: datetime, run_id: str
) -> dict[str, int]:
    import duckdb
    import pyarrow as pa

    counts: dict[str, int] = {}
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists raw")
        for name, rows in tables:
            con.execute(f"drop table if exists raw.{name}")
            con.execute(raw_table_ddl(f"raw.{name}", "json"))
            counts[name] = 0
            for rows_batch in _batches(rows):
                batch = pa.table(
                    {
                        "object_id": [r.object_id for r in rows_batch],
                        "provider_ref": pa.array([r.provider_ref for r in rows_batch], pa.string()),
                        "payload": [r.payload for r in rows_batch],
                        "payload_hash": [r.payload_hash for r in rows_batch],
                        "is_deleted": pa.array([r.is_deleted for r in rows_batch], pa.bool_()),
                        "age_seconds": pa.array([r.age_seconds for r in rows_batch], pa.int64()),
                    }
                )
                con.register("incoming", batch)
                con.execute(
                    f"insert into raw.{name} select object_id, provider_ref, payload::json,"
                    " payload_hash, is_deleted, ?::timestamptz - to_seconds(age_seconds), ?"
                    " from incoming",
                    [extracted_at, run_id],
                )
                con.unregister("incoming")
                counts[name] += len(rows_batch)
    finally:
        con.close()
    return counts


def _write_postgres(
    url: str, tables: Iterator[tuple[str, Iterator[RawRow]]], extracted_at: datetime, run_id: str
) -> dict[str, int]:
    import psycopg

    counts: dict[str, int] = {}
    with psycopg.connect(url) as con:
        con.execute("create schema if not exists raw")
        for name, rows in tables:
            con.execute(f"drop table if exists raw.{name} cascade")  # staging views on it
            con.execute(raw_table_ddl(f"raw.{name}", "jsonb"))
            counts[name] = 0
            with con.cursor().copy(
                f"copy raw.{name} ({', '.join(RAW_COLUMNS)}) from stdin"
            ) as copy:
                for r in rows:
                    counts[name] += 1
                    copy.write_row(
                        (
                            r.object_id,
                            r.provider_ref,
                            r.payload,
                            r.payload_hash,
                            r.is_deleted,
                            extracted_at - timedelta(seconds=r.age_seconds),
                            run_id,
                        )
                    )
        con.commit()
    return counts


def load_raw_from_world(
    world_dir: Path,
    warehouse_url: str,
    *,
    extracted_at: datetime | None = None,
    run_id: str = DEFAULT_RUN_ID,
) -> dict[str, int]:
    """TEST LOADER: (re)create every `raw.*` table of `warehouse_url` from `world_dir`.

    Args:
        world_dir: a directory written by `sandbox.world.generate`.
        warehouse_url: `duckdb:///<path>` or `postgresql://...`.
        extracted_at: the landing time to stamp (default: the world's clock).
        run_id: the run id to stamp.

    Returns:
        Rows written per raw table (`billing__invoice` -> n).
    """
    world_dir = Path(world_dir)
    stamp = extracted_at or world_now(world_dir)
    tables = world_raw_tables(world_dir)
    if warehouse_url.startswith("duckdb:///"):
        path = Path(warehouse_url.removeprefix("duckdb:///"))
        counts = _write_duckdb(path, tables, stamp, run_id)
        _drop_incremental_staging(warehouse_url)
        return counts
    if warehouse_url.startswith(("postgresql://", "postgres://")):
        counts = _write_postgres(warehouse_url, tables, stamp, run_id)
        _drop_incremental_staging(warehouse_url)
        return counts
    raise ValueError(
        f"unsupported warehouse url {warehouse_url!r}: use duckdb:/// or postgresql://"
    )


def land_world(world_dir: Path, warehouse_url: str, run_id: str) -> dict[str, int]:
    """Land every record of the world through the real landing path (`q2c.landing.land_page`,
    stamped with the landing time): only versions that differ from an object's latest stored
    one are appended, as the extractors would after `sandbox advance` (a deleted object's
    tombstone only: its live version landed while it lived). Unlike
    `load_raw_from_world` it keeps what is stored (incremental staging stays valid).

    Returns:
        Versions appended per raw table (tables with none left out).
    """
    from q2c.landing import RawRecord, land_page
    from q2c.warehouse import Warehouse

    landed: dict[str, int] = {}
    with Warehouse.from_url(warehouse_url) as wh:
        for name, rows in world_raw_tables(Path(world_dir)):
            source, _, obj = name.partition("__")
            for batch in _batches(rows, LAND_PAGE_ROWS):
                # a deleted object's live version (`age_seconds`) was landed while it lived
                records = [
                    RawRecord(r.object_id, r.provider_ref, json.loads(r.payload), r.is_deleted)
                    for r in batch
                    if not r.age_seconds
                ]
                n = land_page(wh, source, obj, records, run_id=run_id).landed
                if n:
                    landed[name] = landed.get(name, 0) + n
    return landed


def _drop_incremental_staging(warehouse_url: str) -> None:
    """Drop the staging schema: this loader rewrites raw tables in place (not append-only as
    landing is), so incremental staging built from their former rows would keep objects that
    are gone; the next build then builds staging in full."""
    from q2c.warehouse import Warehouse

    with Warehouse.from_url(warehouse_url) as wh:
        wh.execute("drop schema if exists staging cascade")


# --------------------------------------------------------------------------- dbt for tests
# Running the project against a loaded warehouse, shared by the dbt tests and the benchmark.

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"


def dbt_env(warehouse_url: str) -> dict[str, str]:
    """The process environment for dbt against `warehouse_url` (profiles.yml's variables)."""
    import os

    from orchestration.assets.dbt import dbt_environment

    return {**os.environ, **dbt_environment(warehouse_url), "DBT_SEND_ANONYMOUS_USAGE_STATS": "0"}


def run_dbt(
    args: list[str],
    warehouse_url: str,
    work_dir: Path,
    *,
    check: bool = True,
    project_dir: Path = DBT_PROJECT_DIR,
) -> tuple[int, str]:
    """Run `dbt <args>` in a subprocess against `warehouse_url`.

    Target and log paths go under `work_dir`, so parallel runs never share
    `dbt_project/target`. `project_dir`: another copy of the project (one whose policy seeds
    were compiled from another company's contract).

    Returns:
        (exit code, combined output).

    Raises:
        AssertionError: when `check` and dbt exits non-zero (the output is in the message).
    """
    import subprocess
    import sys

    work_dir.mkdir(parents=True, exist_ok=True)
    dbt = Path(sys.executable).with_name("dbt")
    cmd = [
        str(dbt),
        *args,
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--target-path",
        str(work_dir / "target"),
        "--log-path",
        str(work_dir / "logs"),
    ]
    proc = subprocess.run(
        cmd, env=dbt_env(warehouse_url), capture_output=True, text=True, check=False
    )
    out = proc.stdout + proc.stderr
    if check and proc.returncode != 0:
        raise AssertionError(f"dbt {' '.join(args)} failed ({proc.returncode}):\n{out[-6000:]}")
    return proc.returncode, out


_BUILT: dict[tuple[str, str], tuple[str, str]] = {}


def run_unit_tests(warehouse_url: str, work_dir: Path) -> str:
    """Run every dbt unit test of the project against a built warehouse (their models' parents
    must exist there); fails when one fails or none ran. Returns dbt's output."""
    _, out = run_dbt(["test", "--select", "test_type:unit"], warehouse_url, work_dir)
    done = re.search(r"PASS=(\d+) WARN=(\d+) ERROR=(\d+)", out)
    assert done and int(done[1]) > 0 and done[3] == "0", out[-3000:]
    return out


def built_warehouse(world_dir: Path, warehouse_url: str, work_dir: Path) -> tuple[str, str]:
    """Load `world_dir` into `warehouse_url` and `dbt build` it, once per process and pair.

    dbt's unit tests (fixed inputs, independent of the world) are left out of these builds:
    `run_unit_tests` runs them, once on DuckDB and once on Postgres (test_dbt_build.py,
    test_dbt_postgres.py).

    Returns:
        (warehouse_url, the build's output), from the cache on later calls.
    """
    key = (str(world_dir), warehouse_url)
    if key not in _BUILT and warehouse_url.startswith("duckdb:///"):
        # a copy of one build per world and test session (every xdist worker's), not a build
        _BUILT[key] = (warehouse_url, _copy_of_built_duckdb(world_dir, warehouse_url, work_dir))
    elif key not in _BUILT and warehouse_url.startswith("postgresql://"):
        # a clone of one build per world and server (CREATE DATABASE ... TEMPLATE)
        _BUILT[key] = (warehouse_url, _clone_of_built_postgres(world_dir, warehouse_url, work_dir))
    elif key not in _BUILT:
        load_raw_from_world(world_dir, warehouse_url)
        _, out = run_dbt(["build", "--exclude-resource-type", "unit_test"], warehouse_url, work_dir)
        _BUILT[key] = (warehouse_url, out)
    return _BUILT[key]


_TEMPLATE_ROOT: list[Path] = []
#: (server URL, world digest) -> the output of the build in that server's template database
_PG_TEMPLATES: dict[tuple[str, str], str] = {}


def _world_digest(world_dir: Path) -> str:
    """sha256 of a world's files (its SQLite files and their WALs): the same world generated
    by two xdist workers in two places has one digest."""
    digest = hashlib.sha256()
    for path in sorted(world_dir.glob("*.sqlite*")):
        if not path.name.endswith("-shm"):
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:20]


def _copy_of_built_duckdb(world_dir: Path, warehouse_url: str, work_dir: Path) -> str:
    """Copy one DuckDB build of `world_dir` (made once per test session, whichever xdist worker
    asks first, under a file lock) to `warehouse_url`, and its dbt target to `work_dir`.

    Every model is a table (dbt_project.yml), so the copied file names no other catalog.

    Returns:
        The build's output.
    """
    import os
    import shutil
    import tempfile

    from filelock import FileLock

    shared = os.environ.get("Q2C_TESTS_SHARED_DIR")  # tests/conftest.py: one per session
    if shared is not None:
        root = Path(shared)
    else:
        if not _TEMPLATE_ROOT:
            _TEMPLATE_ROOT.append(Path(tempfile.mkdtemp(prefix="q2c-tests-")))
        root = _TEMPLATE_ROOT[0]
    template = root / f"built-{_world_digest(world_dir)}"
    template.mkdir(parents=True, exist_ok=True)
    db, output = template / "warehouse.duckdb", template / "dbt-output.txt"
    with FileLock(str(template) + ".lock"):
        if not output.exists():
            url = f"duckdb:///{db}"
            load_raw_from_world(world_dir, url)
            _, out = run_dbt(["build", "--exclude-resource-type", "unit_test"], url, template)
            output.write_text(out)
    target = Path(warehouse_url.removeprefix("duckdb:///"))
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(db, target)
    shutil.copytree(template / "target", work_dir / "target", dirs_exist_ok=True)
    return output.read_text()


def _clone_of_built_postgres(world_dir: Path, warehouse_url: str, work_dir: Path) -> str:
    """Make `warehouse_url`'s database a clone of one build of `world_dir` on that server.

    The first call per server and world loads and builds a template database (no session
    stays connected to it); every call then recreates the requested database with
    `CREATE DATABASE ... TEMPLATE` (a file copy in the server, seconds instead of a build).

    Returns:
        The template build's output.
    """
    from urllib.parse import urlsplit

    import psycopg

    parts = urlsplit(warehouse_url)
    server, name = f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")
    digest = _world_digest(world_dir)
    template = f"q2c_built_{digest}"
    if (server, digest) not in _PG_TEMPLATES:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'drop database if exists "{template}" with (force)')
            conn.execute(f'create database "{template}"')
        template_url = f"{server}/{template}"
        load_raw_from_world(world_dir, template_url)
        _, out = run_dbt(["build", "--exclude-resource-type", "unit_test"], template_url, work_dir)
        _PG_TEMPLATES[(server, digest)] = out
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}" template "{template}"')
    return _PG_TEMPLATES[(server, digest)]
