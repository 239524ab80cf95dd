"""The ERP stand-in: NetSuite's SuiteQL REST endpoint and a journal import over `erp.sqlite`.

Endpoints (all JSON unless said otherwise):

- `POST /services/rest/query/v1/suiteql?limit=N&offset=M` with `Prefer: transient` and body
  `{"q": "<SuiteQL>"}`: NetSuite's SuiteQL REST resource. `limit` 1..1000 (default 1000),
  `offset` >= 0; like NetSuite, `offset + limit` may be at most 100,000 (narrow the query by
  date or id ranges instead). Answers `{"links": [{"rel", "href"}], "count", "hasMore",
  "items": [{"links": [], <column>: "<value>", ...}], "offset", "totalResults"}` (link rels:
  previous, first, next, last, self). As NetSuite does, every value is a string and null
  columns are left out of the item. As in NetSuite, a plain date or timestamp column answers
  in the account's date format preference, date only (`10/5/2026` for `M/D/YYYY`, the default,
  or `5.10.2026` for `D.M.YYYY`: the world's `meta.date_format` or `create_app(date_format=)`);
  `TO_CHAR(col, 'YYYY-MM-DD"T"HH24:MI:SS')` gives any other shape, time included.
  The SuiteQL subset is in `sandbox.erp.suiteql`; any other query is a 400
  `INVALID_PARAMETER`. Only SELECTs over the eight ERP tables ever run: the query is
  re-emitted from a parse tree, the connection is `query_only`, and an SQLite authorizer
  denies anything but reading those tables.
- `POST /services/rest/q2c/v1/journal-import[?atomic=true]` with the CSV export as the body:
  validates line by line and posts balanced `Journal` entries idempotently by external id. The
  file format and the answers are in `sandbox.erp.journal_import`.
- `PUT /services/rest/record/v1/journalEntry/eid:<external id>` (and the batch upsert, the async
  job service under `/services/rest/async/v1/job`): NetSuite's REST record service for journal
  entries, see `sandbox.erp.record_service`; its write journal is `GET /__sandbox/record-journal`.
- `POST /vies/check-vat-number` (and `GET /vies/ms/{cc}/vat/{number}`): the VIES stand-in,
  see `sandbox.vies`.
- `GET|PUT /__sandbox/faults`, `GET /__sandbox/fault-counts`, `GET /__sandbox/health`: sandbox
  control, no auth. Fault names are in `sandbox.erp.faults`.

Auth: `Authorization: Bearer <token>` (default `sandbox.erp.auth.ERP_TOKEN`) or OAuth 1.0 TBA
(`sandbox.erp.auth.TBA`); anything else is a 401 in NetSuite's error shape
`{"type", "title", "status", "o:errorDetails": [{"detail", "o:errorCode"}]}`.

Rows are read live from `erp.sqlite`, so `advance` and journal imports show up in the next
read. To keep paging linear, the next page of a listing continues the previous page's open
cursor and `totalResults` is counted once, but only while the file is unchanged (see
`run_suiteql`); the stand-in also adds two read indexes on `lastmodifieddate` at start.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.erp import auth, journal_import, record_service, suiteql
from sandbox.erp.faults import FaultError, FaultState

SUITEQL_PATH = "/services/rest/query/v1/suiteql"
IMPORT_PATH = "/services/rest/q2c/v1/journal-import"
MAX_LIMIT = 1000
MAX_RESULTS = 100_000
MALFORMED = "#VALUE!"
_STATUS_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response serialised with orjson (it is the hot path of every page)."""
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def netsuite_error(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    """An error in NetSuite's REST shape (RFC 9457 problem details with `o:errorDetails`)."""
    section = {400: "15.5.1", 401: "15.5.2", 404: "15.5.5", 429: "6.1", 500: "15.6.1"}
    body = {
        "type": f"https://www.rfc-editor.org/rfc/rfc9110.html#section-{section.get(status, '15')}",
        "title": _STATUS_TITLES.get(status, "Error"),
        "status": status,
        "o:errorDetails": [{"detail": detail, "o:errorCode": code}],
    }
    return json_response(body, status, headers)


_ALLOWED_FUNCTIONS = frozenset({"count", "min", "max", "upper", "lower", "strftime", "glob"})


def _authorizer(action: int, arg1: str | None, arg2: str | None, *_: Any) -> int:
    # Defence in depth behind the parser: only reads of the ERP tables and a few functions.
    if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_TRANSACTION):
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_READ and arg1 in suiteql.TABLES:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION and arg2 in _ALLOWED_FUNCTIONS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _connect(db_path: Path) -> sqlite3.Connection:
    if not db_path.exists():
        raise FileNotFoundError(f"no ERP world at {db_path}")
    conn = sqlite3.connect(db_path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


# Indexes the extractor's incremental queries need (`ORDER BY lastmodifieddate, id`, and the
# line query joined to its transaction); without them every page of an M world sorts 400k rows.
# They change no row, so the world's rows stay as generated.
SANDBOX_INDEXES = (
    'CREATE INDEX IF NOT EXISTS sandbox_transaction_lastmodified ON "transaction"'
    "(lastmodifieddate, id)",
    "CREATE INDEX IF NOT EXISTS sandbox_customer_lastmodified ON customer(lastmodifieddate, id)",
)


def ensure_indexes(db_path: Path) -> None:
    """Add the stand-in's read indexes to `erp.sqlite` if they are missing."""
    conn = _connect(db_path)
    try:
        for ddl in SANDBOX_INDEXES:
            conn.execute(ddl)
    finally:
        conn.close()


def _file_version(db_path: Path) -> tuple[int, ...]:
    """Changes whenever a commit lands (WAL appends) or a checkpoint rewrites the file."""
    out: list[int] = []
    for path in (db_path, db_path.with_name(db_path.name + "-wal")):
        try:
            st = path.stat()
        except FileNotFoundError:
            out += [0, 0]
            continue
        # An empty WAL is what opening the first connection creates: no commit, no change.
        out += [st.st_mtime_ns, st.st_size] if st.st_size else [0, 0]
    return tuple(out)


_COUNT_CACHE: dict[tuple, tuple[tuple[int, ...], int]] = {}
_COUNT_CACHE_LOCK = threading.Lock()
_COUNT_CACHE_MAX = 256


@dataclass
class _OpenListing:
    """A query's cursor left open after a page, so the next page continues it."""

    conn: sqlite3.Connection
    cursor: sqlite3.Cursor
    next_offset: int
    version: tuple[int, ...]
    total: int
    last_used: float


_OPEN: dict[tuple, _OpenListing] = {}
_OPEN_LOCK = threading.Lock()
_OPEN_MAX = 8
_OPEN_IDLE_S = 120.0


def close_open_listings(db_path: Path | None = None) -> None:
    """Close the cursors kept for paging (all, or those over `db_path`)."""
    with _OPEN_LOCK:
        keys = [k for k in _OPEN if db_path is None or k[0] == str(db_path)]
        listings = [_OPEN.pop(k) for k in keys]
    for listing in listings:
        listing.conn.close()


def _take_listing(key: tuple, offset: int, version: tuple[int, ...]) -> _OpenListing | None:
    now = time.monotonic()
    stale = []
    with _OPEN_LOCK:
        listing = _OPEN.pop(key, None)
        for k, other in list(_OPEN.items()):
            if now - other.last_used > _OPEN_IDLE_S:
                stale.append(_OPEN.pop(k))
    for other in stale:
        other.conn.close()
    if listing is None:
        return None
    if listing.next_offset == offset and listing.version == version:
        return listing
    listing.conn.close()
    return None


def _keep_listing(key: tuple, listing: _OpenListing) -> None:
    evicted = []
    with _OPEN_LOCK:
        if key in _OPEN:
            evicted.append(_OPEN.pop(key))
        while len(_OPEN) >= _OPEN_MAX:
            oldest = min(_OPEN, key=lambda k: _OPEN[k].last_used)
            evicted.append(_OPEN.pop(oldest))
        _OPEN[key] = listing
    for other in evicted:
        other.conn.close()


def run_suiteql(
    db_path: Path, tr: suiteql.Translation, limit: int, offset: int
) -> tuple[int, list[tuple]]:
    """Run a translated query read-only: the total count and one page of rows.

    Paging a listing asks the same query at offsets 0, 1000, 2000...; recomputing each page
    from the start makes a listing quadratic (an M world's line query took a second a page).
    So the cursor of a page is kept open (at most 8, closed after 2 idle minutes) and the next
    page continues it, and `totalResults` is recounted only when the query is new. Both are
    used only while the world file is unchanged (its size and mtime, WAL included): any
    commit, an `advance` or an import, makes the next page a fresh read, so nothing served is
    older than the file.
    """
    key = (str(db_path), tr.sql, tr.params)
    count_key = (str(db_path), tr.count_sql, tr.count_params)
    before = _file_version(db_path)
    listing = _take_listing(key, offset, before)
    if listing is not None:
        rows = listing.cursor.fetchmany(limit)
        listing.next_offset += len(rows)
        listing.last_used = time.monotonic()
        if len(rows) == limit:
            _keep_listing(key, listing)
        else:
            listing.conn.close()
        return listing.total, rows
    conn = _connect(db_path)
    keep = False
    try:
        # Only a WAL reader may stay open: in rollback-journal mode it would block writers.
        wal = conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
        conn.execute("PRAGMA query_only = ON")
        conn.set_authorizer(_authorizer)
        # One read transaction so the count and the pages see the same snapshot.
        conn.execute("BEGIN")
        cursor = conn.execute(tr.sql + " LIMIT -1 OFFSET ?", (*tr.params, offset))
        rows = cursor.fetchmany(limit)
        after = _file_version(db_path)  # the snapshot is fixed by now
        with _COUNT_CACHE_LOCK:
            cached = _COUNT_CACHE.get(count_key)
        if cached is not None and cached[0] == before == after:
            total = cached[1]
        else:
            (total,) = conn.execute(tr.count_sql, tr.count_params).fetchone()
        if before == after:  # nothing committed while we read: results belong to `before`
            with _COUNT_CACHE_LOCK:
                if len(_COUNT_CACHE) >= _COUNT_CACHE_MAX:
                    _COUNT_CACHE.clear()
                _COUNT_CACHE[count_key] = (before, total)
            if wal and len(rows) == limit:
                listing = _OpenListing(
                    conn, cursor, offset + limit, before, total, time.monotonic()
                )
                _keep_listing(key, listing)
                keep = True
    finally:
        if not keep:
            conn.close()
    return total, rows


def late_update(db_path: Path, transaction_id: int, lag_s: int) -> None:
    """An accountant edits a served transaction, stamped `lag_s` before the newest change.

    NetSuite stamps `lastmodifieddate` when an edit starts, not when it commits, so a change
    can appear with a timestamp older than rows already read.
    """
    conn = _connect(db_path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        (newest,) = conn.execute('SELECT MAX(lastmodifieddate) FROM "transaction"').fetchone()
        stamp = datetime.strptime(newest, "%Y-%m-%dT%H:%M:%SZ") - timedelta(seconds=lag_s)
        conn.execute(
            "UPDATE \"transaction\" SET memo = COALESCE(memo || ' ', '') || '(edited)', "
            "lastmodifieddate = ? WHERE id = ?",
            (stamp.strftime("%Y-%m-%dT%H:%M:%SZ"), transaction_id),
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


def _items(
    columns: tuple[str, ...],
    rows: list[tuple],
    kinds: tuple[str | None, ...] = (),
    date_format: str = suiteql.DEFAULT_DATE_FORMAT,
) -> list[dict[str, Any]]:
    """The answer's items; a plain date or timestamp column in the date preference."""
    dated = [i for i, kind in enumerate(kinds) if kind is not None]
    items = []
    for row in rows:
        item: dict[str, Any] = {"links": []}
        for name, value in zip(columns, row, strict=True):
            if value is None:
                continue  # NetSuite leaves null columns out of the item
            item[name] = value if isinstance(value, str) else str(value)
        for i in dated:
            if row[i] is not None:
                item[columns[i]] = suiteql.format_preference(str(row[i]), date_format)
        items.append(item)
    return items


def world_date_format(db_path: Path) -> str:
    """The account's date preference: the world's `meta.date_format`, else M/D/YYYY."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'date_format'").fetchone()
    except sqlite3.OperationalError:
        row = None
    finally:
        conn.close()
    return suiteql.check_date_format(row[0] if row else suiteql.DEFAULT_DATE_FORMAT)


def _corrupt(item: dict[str, Any]) -> None:
    hit = False
    for name in item:
        if name in suiteql.AMOUNT_COLUMNS | suiteql.DATE_COLUMNS | suiteql.TIMESTAMP_COLUMNS:
            item[name] = MALFORMED
            hit = True
    if not hit:
        item["id"] = MALFORMED


class FaultMiddleware:
    """Injects the network-level faults into the ERP API paths (`/services/...`)."""

    def __init__(self, app: ASGIApp, state: FaultState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/services/"):
            await self.app(scope, receive, send)
            return
        st = self.state
        slow = st.get("slow_ms")
        if slow:
            await asyncio.sleep(slow / 1000)
        timed_out = st.roll("timeout")
        if timed_out:
            # Then answer normally: its other faults are not rolled after the wait, so a
            # request a client gave up on does not shift the dice of later requests.
            await asyncio.sleep(st.get("timeout_s"))
        fault, response = None, None
        if timed_out:
            pass
        elif st.take_burst():
            fault = "server_error_burst"
            response = netsuite_error(503, "UNEXPECTED_ERROR", "Service temporarily unavailable.")
        elif st.roll("rate_limit"):
            fault = "rate_limit"
            response = netsuite_error(
                429,
                "CONCURRENCY_LIMIT_EXCEEDED",
                "Concurrent request limit exceeded. Request blocked.",
                {"Retry-After": "1"},
            )
        elif st.roll("server_error"):
            fault = "server_error"
            response = netsuite_error(
                500, "UNEXPECTED_ERROR", "An unexpected error occurred. Error ID: sandbox"
            )
        elif st.roll("drop_connection"):
            # Headers and part of the body, then the app returns: uvicorn closes the socket.
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"65536"),
                        (b"x-sandbox-fault", b"drop_connection"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b'{"links": [', "more_body": True})
            return
        if response is not None:
            response.headers["X-Sandbox-Fault"] = fault or ""
            await response(scope, receive, send)
            return
        if not timed_out:
            await self.app(scope, receive, send)
            return

        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"x-sandbox-fault", b"timeout")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_marked)


def create_app(
    world_dir: Path,
    faults: dict | None = None,
    *,
    token: str = auth.ERP_TOKEN,
    date_format: str | None = None,
) -> Starlette:
    """Build the ERP stand-in over `world_dir / "erp.sqlite"`.

    Args:
        world_dir: the world directory (INTERFACES.md section 1).
        faults: initial faults (names in `sandbox.erp.faults`).
        token: the bearer token to accept.
        date_format: the account's date preference for plain date and timestamp columns
            (`M/D/YYYY`, `D.M.YYYY`, `DD-Mon-YYYY`...); default: the world's
            `meta.date_format`, else `M/D/YYYY`.

    Returns:
        The Starlette app (the VIES stand-in is mounted under `/vies`).

    Raises:
        FileNotFoundError: the world has no `erp.sqlite`.
        FaultError: an unknown fault name or a bad value (a ValueError).
    """
    from sandbox import vies

    world_dir = Path(world_dir)
    db_path = world_dir / "erp.sqlite"
    if not db_path.is_file():
        raise FileNotFoundError(f"no ERP world at {db_path}")
    state = FaultState(faults)
    ensure_indexes(db_path)
    preference = suiteql.check_date_format(date_format or world_date_format(db_path))

    async def authenticate(request: Request, body: bytes) -> Response | None:
        url = str(request.url)
        reason = auth.check_authorization(
            request.headers.get("authorization"),
            method=request.method,
            url=url,
            body=body,
            token=token,
        )
        if reason is None and state.roll("expired_token"):
            response = netsuite_error(401, "INVALID_LOGIN", _invalid_login())
            response.headers["X-Sandbox-Fault"] = "expired_token"
            return response
        if reason is not None:
            return netsuite_error(401, "INVALID_LOGIN", _invalid_login())
        return None

    async def suiteql_endpoint(request: Request) -> Response:
        body = await request.body()
        denied = await authenticate(request, body)
        if denied is not None:
            return denied
        if request.headers.get("prefer", "").strip().lower() != "transient":
            return netsuite_error(
                400, "INVALID_HEADER", "The request must carry the header 'Prefer: transient'."
            )
        try:
            limit = int(request.query_params.get("limit", MAX_LIMIT))
            offset = int(request.query_params.get("offset", 0))
        except ValueError:
            return netsuite_error(400, "INVALID_PARAMETER", "limit and offset must be integers.")
        if not 1 <= limit <= MAX_LIMIT:
            return netsuite_error(
                400,
                "INVALID_PARAMETER",
                f"Invalid value for parameter 'limit': {limit}. It must be 1 to {MAX_LIMIT}.",
            )
        if offset < 0 or offset + limit > MAX_RESULTS:
            return netsuite_error(
                400,
                "INVALID_PARAMETER",
                f"Invalid value for parameter 'offset': {offset}. offset + limit may be at most "
                f"{MAX_RESULTS}; narrow the query by date or id ranges.",
            )
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return netsuite_error(400, "INVALID_CONTENT", "The request body is not valid JSON.")
        q = payload.get("q") if isinstance(payload, dict) else None
        if not isinstance(q, str):
            return netsuite_error(400, "INVALID_PARAMETER", 'The body must be {"q": "<query>"}.')
        try:
            tr = suiteql.translate(q)
        except suiteql.SuiteQLError as exc:
            return netsuite_error(
                400,
                "INVALID_PARAMETER",
                "Invalid search query. Detailed unprocessed description follows. "
                f"Search error occurred: {exc}",
            )
        try:
            total, rows = await run_in_threadpool(run_suiteql, db_path, tr, limit, offset)
        except sqlite3.DatabaseError as exc:
            return netsuite_error(
                400, "INVALID_PARAMETER", f"Invalid search query. Search error occurred: {exc}"
            )
        items = _items(tr.columns, rows, tr.column_kinds, preference)
        fault = None
        for item in items:
            if state.roll("malformed_rows"):
                _corrupt(item)
                fault = "malformed_rows"
        served_ids = [i["id"] for i in items if "id" in i and tr.source == "transaction"]
        if served_ids and state.roll("late_update"):
            victim = int(state.choice(served_ids))
            lag = state.get("late_update_lag_s")
            await run_in_threadpool(late_update, db_path, victim, lag)
            fault = "late_update"
        total = min(total, MAX_RESULTS)
        has_more = offset + len(items) < total
        base = str(request.base_url).rstrip("/") + SUITEQL_PATH

        def link(rel: str, off: int) -> dict[str, str]:
            return {"rel": rel, "href": f"{base}?{urlencode({'limit': limit, 'offset': off})}"}

        links = []
        if offset > 0:
            links.append(link("previous", max(offset - limit, 0)))
        links.append(link("first", 0))
        if has_more:
            links.append(link("next", offset + limit))
        last = max(((total - 1) // limit) * limit, 0)
        links.append(link("last", last))
        links.append(link("self", offset))
        body_out = {
            "links": links,
            "count": len(items),
            "hasMore": has_more,
            "items": items,
            "offset": offset,
            "totalResults": total,
        }
        return json_response(body_out, headers={"X-Sandbox-Fault": fault} if fault else None)

    async def import_endpoint(request: Request) -> Response:
        body = await request.body()
        denied = await authenticate(request, body)
        if denied is not None:
            return denied
        atomic = request.query_params.get("atomic", "false").lower() == "true"

        def work() -> journal_import.ImportOutcome:
            conn = _connect(db_path)
            try:
                return journal_import.import_journal(conn, body, atomic=atomic)
            finally:
                conn.close()

        outcome = await run_in_threadpool(work)
        return json_response(outcome.body, outcome.http_status)

    async def faults_endpoint(request: Request) -> Response:
        if request.method == "PUT":
            try:
                update = orjson.loads(await request.body())
                return json_response(state.update(update))
            except (orjson.JSONDecodeError, FaultError) as exc:
                return json_response({"error": str(exc)}, 400)
        return json_response(state.snapshot())

    async def fault_counts(request: Request) -> Response:
        return json_response(dict(state.counts))

    async def health(request: Request) -> Response:
        return json_response({"ok": db_path.exists(), "service": "erp"})

    routes = [
        Route(SUITEQL_PATH, suiteql_endpoint, methods=["POST"]),
        Route(IMPORT_PATH, import_endpoint, methods=["POST"]),
        Route("/__sandbox/faults", faults_endpoint, methods=["GET", "PUT"]),
        Route("/__sandbox/fault-counts", fault_counts, methods=["GET"]),
        Route("/__sandbox/health", health, methods=["GET"]),
        *record_service.routes(
            db_path, authenticate, netsuite_error, lambda: state.get("concurrency_limit")
        ),
        Mount("/vies", app=vies.create_app(world_dir, fault_state=state)),
    ]
    app = Starlette(routes=routes)
    app.state.faults = state
    app.add_middleware(FaultMiddleware, state=state)
    return app


def _invalid_login() -> str:
    return (
        "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI "
        "at Setup > Users/Roles > User Management > View Login Audit Trail."
    )
