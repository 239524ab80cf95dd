"""The REST record service for journal entries, as NetSuite documents it, over `erp.sqlite`.

Endpoints (Bearer or TBA auth as every ERP path; errors in NetSuite's shape
`{"type", "title", "status", "o:errorDetails": [{"detail", "o:errorCode"}]}`):

- `PUT /services/rest/record/v1/journalEntry/eid:<external id>`: upsert one journal entry by
  its external id ("Using the Upsert Operation"). Body: `externalId`, `subsidiary`,
  `currency`, `tranDate` (`YYYY-MM-DD`), `postingPeriod`, `memo`, and the `line` sublist
  `{"items": [{"account", "debit" | "credit", "memo", "entity"}]}`; references are
  `{"id": "<internal id>"}`. Answers 204 with `Location: .../journalEntry/<internal id>`.
  The same external id answers the same record: identical lines write nothing; other lines
  update the record in place (NetSuite's upsert), which the write journal shows as `updated`.
- `PUT /services/rest/record/v1/journalEntry` with
  `Content-Type: application/vnd.oracle.resource+json; type=collection`, `Prefer:
  respond-async` and `{"items": [<entry with externalId>, ...]}` (at most 100): a batch upsert
  ("Batch Operations"). Answers 202 with `Location: /services/rest/async/v1/job/<id>`.
- `Prefer: respond-async` on the single PUT: the same, as a job of one task.
- `GET /services/rest/async/v1/job/<id>` (`completed`, `progress`: pending / succeeded /
  failed), `.../job/<id>/task` (the task links), `.../task/<task id>` (its progress) and
  `.../task/<task id>/result` (what the synchronous request would have answered: 204 with
  `Location`, or the error).
- `X-NetSuite-Idempotency-Key` (a UUID) on an async request: a key already submitted answers
  400 `IDEMPOTENCY_ERROR` with `Location` of the earlier job, and nothing runs twice.

Checks, each a 400 in NetSuite's shape that posts nothing: unknown subsidiary, currency,
account, entity or period (`INVALID_KEY_OR_REF`), a closed period or a quarter/year
(`USER_ERROR`), an amount with more decimals than the currency takes, a line with both or
neither of debit and credit, debits not equal to credits (`USER_ERROR`), an `externalId` that
differs from the URL's. At most `concurrency_limit` record/async requests run at once (NetSuite's
account concurrency governance; default 5); one more is a 429 `CONCURRENCY_LIMIT_EXCEEDED`.

Posted entries become a `transaction` (`type` `Journal`, `tranid` `JE<id>`) and its
`transactionline` rows in one SQLite transaction, stamped with the world's clock, so the next
SuiteQL extract lands them. Every write request's outcome is appended to
`q2c_record_journal` (not visible to SuiteQL), read by tests through
`GET /__sandbox/record-journal`: the proof of what the ERP received and posted.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.erp.journal_import import _world_now

RECORD_PATH = "/services/rest/record/v1/journalEntry"
ASYNC_PATH = "/services/rest/async/v1/job"
COLLECTION_TYPE = "application/vnd.oracle.resource+json; type=collection"
MAX_BATCH = 100
#: NetSuite takes 0 or 2 decimal places per currency (its currency precision); 2 by default.
CURRENCY_PRECISION = {"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "HUF": 2}
_EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
CENT = Decimal("0.01")

JOURNAL_DDL = """
CREATE TABLE IF NOT EXISTS q2c_record_journal(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, external_id TEXT,
  idempotency_key TEXT, mode TEXT NOT NULL, operation TEXT NOT NULL, transaction_id INTEGER,
  error_code TEXT, detail TEXT)
"""

ErrorFactory = Callable[..., Response]
Authenticate = Callable[[Request, bytes], Awaitable[Response | None]]


class RecordError(Exception):
    """A request the record service refuses (NetSuite's error code and detail)."""

    def __init__(self, code: str, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status


@dataclass
class Outcome:
    """What one upsert did: `created`, `unchanged`, `updated` or `rejected`."""

    operation: str
    record_id: int | None = None
    error: RecordError | None = None


@dataclass
class Task:
    id: int
    external_id: str | None
    body: Any
    outcome: Outcome | None = None


@dataclass
class Job:
    id: int
    tasks: list[Task]
    idempotency_key: str | None
    completed: bool = False
    progress: str = "pending"


@dataclass
class JobStore:
    """Async jobs and the idempotency keys they were submitted under (in memory)."""

    jobs: dict[int, Job] = field(default_factory=dict)
    keys: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def submit(self, tasks: list[Task], key: str | None) -> tuple[Job, bool]:
        """The new job, or the earlier job of `key` and False."""
        with self.lock:
            if key and key in self.keys:
                return self.jobs[self.keys[key]], False
            job = Job(len(self.jobs) + 1, tasks, key)
            self.jobs[job.id] = job
            if key:
                self.keys[key] = job.id
            return job, True


# ---------------------------------------------------------------- validation and posting


def _number(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise RecordError("INVALID_FLD_VALUE", f"Invalid value for field {name}: a number.")
    amount = Decimal(value)
    if amount <= 0:
        raise RecordError("INVALID_FLD_VALUE", f"Invalid value for field {name}: must be > 0.")
    return amount


def _ref(conn: sqlite3.Connection, body: dict, name: str, table: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict) or "id" not in value:
        raise RecordError("INVALID_FLD_VALUE", f'Invalid value for field {name}: {{"id": ...}}.')
    try:
        ref = int(str(value["id"]))
    except ValueError:
        ref = -1
    if conn.execute(f'SELECT 1 FROM "{table}" WHERE id = ?', (ref,)).fetchone() is None:
        raise RecordError("INVALID_KEY_OR_REF", f"Invalid {name} reference key {value['id']}.")
    return ref


def _required(conn: sqlite3.Connection, body: dict, name: str, table: str) -> int:
    ref = _ref(conn, body, name, table)
    if ref is None:
        raise RecordError("USER_ERROR", f"Please enter value(s) for: {name}.")
    return ref


def _fmt(amount: Decimal) -> str:
    return str(amount.quantize(CENT))


def plan_entry(conn: sqlite3.Connection, external_id: str, body: Any) -> dict[str, Any]:
    """Check one journal entry body against the ERP's records; the rows to write.

    Raises:
        RecordError: the first problem found (nothing is written).
    """
    if not isinstance(body, dict):
        raise RecordError("INVALID_CONTENT", "The request body must be a JSON object.")
    if not _EXTERNAL_ID.match(external_id):
        raise RecordError(
            "INVALID_ID", "An external ID contains letters, numbers, underscore and hyphen only."
        )
    if body.get("externalId", external_id) != external_id:
        raise RecordError("INVALID_ID", "externalId differs from the record's external ID.")
    _required(conn, body, "subsidiary", "subsidiary")
    currency = _required(conn, body, "currency", "currency")
    (symbol,) = conn.execute("SELECT symbol FROM currency WHERE id = ?", (currency,)).fetchone()
    places = CURRENCY_PRECISION.get(symbol.upper(), 2)
    period = _required(conn, body, "postingPeriod", "accountingperiod")
    name, closed, quarter, year = conn.execute(
        "SELECT periodname, closed, isquarter, isyear FROM accountingperiod WHERE id = ?",
        (period,),
    ).fetchone()
    if "T" in (quarter, year):
        raise RecordError("USER_ERROR", f"{name} is a summary period; post to a month.")
    if closed == "T":
        raise RecordError("USER_ERROR", f"The accounting period {name} is closed.")
    try:
        trandate = date.fromisoformat(str(body.get("tranDate"))).isoformat()
    except ValueError:
        raise RecordError("INVALID_FLD_VALUE", "Invalid value for field tranDate.") from None
    items = (body.get("line") or {}).get("items") if isinstance(body.get("line"), dict) else None
    if not isinstance(items, list) or len(items) < 2:
        raise RecordError("USER_ERROR", "A journal entry needs at least two lines.")
    lines = []
    debits, credits = Decimal(0), Decimal(0)
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise RecordError("INVALID_CONTENT", f"line {n} is not an object.")
        account = _required(conn, item, "account", "account")
        entity = _ref(conn, item, "entity", "customer")
        if ("debit" in item) == ("credit" in item):
            raise RecordError("USER_ERROR", f"line {n}: enter either a debit or a credit.")
        side = "debit" if "debit" in item else "credit"
        amount = _number(item[side], side)
        if amount != round(amount, places):
            raise RecordError(
                "INVALID_FLD_VALUE",
                f"line {n}: {side} {amount} has more than {places} decimal places for {symbol}.",
            )
        if side == "debit":
            debits += amount
        else:
            credits += amount
        memo = item.get("memo")
        lines.append((account, side, amount, memo if isinstance(memo, str) else None, entity))
    if debits != credits:
        raise RecordError(
            "USER_ERROR",
            f"The debits ({_fmt(debits)}) and credits ({_fmt(credits)}) of the journal entry "
            "must be equal.",
        )
    entities = {line[4] for line in lines}
    memo = body.get("memo")
    return {
        "external_id": external_id,
        "trandate": trandate,
        "period": period,
        "currency": currency,
        "entity": entities.pop() if len(entities) == 1 else None,
        "total": _fmt(debits),
        "memo": memo if isinstance(memo, str) else None,
        "lines": lines,
    }


def _line_rows(plan: dict) -> list[tuple]:
    return [
        (
            account,
            _fmt(amount if side == "debit" else -amount),
            _fmt(amount) if side == "debit" else None,
            _fmt(amount) if side == "credit" else None,
            memo,
            entity,
        )
        for account, side, amount, memo, entity in plan["lines"]
    ]


def upsert(conn: sqlite3.Connection, plan: dict, now: str) -> Outcome:
    """Create the journal entry, or answer / update the one with the same external id."""
    header = (plan["trandate"], plan["period"], plan["entity"], plan["currency"])
    header += (plan["total"], plan["memo"])
    lines = _line_rows(plan)
    row = conn.execute(
        "SELECT id, trandate, postingperiod, entity, currency, foreigntotal, memo "
        "FROM \"transaction\" WHERE externalid = ? AND type = 'Journal'",
        (plan["external_id"],),
    ).fetchone()
    if row is not None:
        tx_id = row[0]
        posted = conn.execute(
            "SELECT account, foreignamount, debitforeignamount, creditforeignamount, memo, "
            'entity FROM transactionline WHERE "transaction" = ? ORDER BY id',
            (tx_id,),
        ).fetchall()
        if tuple(row[1:]) == header and [tuple(r) for r in posted] == lines:
            return Outcome("unchanged", tx_id)
        conn.execute(
            'UPDATE "transaction" SET trandate = ?, postingperiod = ?, entity = ?, currency = ?, '
            "foreigntotal = ?, memo = ?, lastmodifieddate = ? WHERE id = ?",
            (*header, now, tx_id),
        )
        conn.execute('DELETE FROM transactionline WHERE "transaction" = ?', (tx_id,))
        operation = "updated"
    else:
        (max_id,) = conn.execute('SELECT COALESCE(MAX(id), 0) FROM "transaction"').fetchone()
        tx_id = max_id + 1
        conn.execute(
            'INSERT INTO "transaction"(id, tranid, type, trandate, postingperiod, entity, '
            "currency, foreigntotal, externalid, memo, status, createddate, lastmodifieddate) "
            "VALUES (?, ?, 'Journal', ?, ?, ?, ?, ?, ?, ?, 'Approved for Posting', ?, ?)",
            (tx_id, f"JE{tx_id}", *header[:5], plan["external_id"], plan["memo"], now, now),
        )
        operation = "created"
    conn.executemany(
        'INSERT INTO transactionline(id, "transaction", linesequencenumber, account, '
        "foreignamount, debitforeignamount, creditforeignamount, memo, entity) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(n, tx_id, n, *line) for n, line in enumerate(lines)],
    )
    return Outcome(operation, tx_id)


def process(
    db_path: Path, external_id: str | None, body: Any, *, key: str | None, mode: str
) -> Outcome:
    """Validate and upsert one entry in one SQLite transaction, and journal the outcome."""
    conn = sqlite3.connect(db_path, timeout=30, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute(JOURNAL_DDL)
        conn.execute("BEGIN IMMEDIATE")
        try:
            now = _world_now(conn)
            try:
                if external_id is None:
                    raise RecordError("USER_ERROR", "Each item of an upsert needs an externalId.")
                outcome = upsert(conn, plan_entry(conn, external_id, body), now)
            except RecordError as exc:
                outcome = Outcome("rejected", None, exc)
            conn.execute(
                "INSERT INTO q2c_record_journal(at, external_id, idempotency_key, mode, "
                "operation, transaction_id, error_code, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    now,
                    external_id,
                    key,
                    mode,
                    outcome.operation,
                    outcome.record_id,
                    outcome.error.code if outcome.error else None,
                    outcome.error.detail if outcome.error else None,
                ),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return outcome
    finally:
        conn.close()


def read_journal(db_path: Path) -> list[dict[str, Any]]:
    """Every row of `q2c_record_journal`, oldest first."""
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        conn.execute(JOURNAL_DDL)
        cur = conn.execute("SELECT * FROM q2c_record_journal ORDER BY seq")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        conn.close()


def read_entry(db_path: Path, key: str) -> dict[str, Any] | None:
    """A journal entry by `eid:<external id>` or internal id, in the record service's shape."""
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        where = "externalid = ?" if key.startswith("eid:") else "id = ?"
        value: Any = key.removeprefix("eid:")
        row = conn.execute(
            "SELECT id, externalid, tranid, trandate, postingperiod, currency, foreigntotal, "
            f"memo FROM \"transaction\" WHERE type = 'Journal' AND {where}",
            (value,),
        ).fetchone()
    finally:
        conn.close()
    if row is None:
        return None
    tx_id, ext, tranid, trandate, period, currency, total, memo = row
    out = {"id": str(tx_id), "externalId": ext, "tranId": tranid, "tranDate": trandate}
    out |= {"postingPeriod": {"id": str(period)}, "currency": {"id": str(currency)}}
    out |= {"total": total, "memo": memo}
    return {k: v for k, v in out.items() if v is not None}


# ---------------------------------------------------------------- HTTP


def routes(
    db_path: Path,
    authenticate: Authenticate,
    netsuite_error: ErrorFactory,
    limit: Callable[[], int],
) -> list[Route]:
    """The record service's and async service's routes over `db_path`.

    Args:
        db_path: the world's `erp.sqlite`.
        authenticate: the stand-in's auth check (None when the credential is good).
        netsuite_error: builds an error response in NetSuite's shape.
        limit: the current concurrency limit (0: none).
    """
    store = JobStore()
    in_flight = [0]
    gate = threading.Lock()

    def error_response(exc: RecordError, headers: dict[str, str] | None = None) -> Response:
        return netsuite_error(exc.status, exc.code, exc.detail, headers)

    def record_location(request: Request, record_id: int) -> str:
        return f"{str(request.base_url).rstrip('/')}{RECORD_PATH}/{record_id}"

    def outcome_response(request: Request, outcome: Outcome) -> Response:
        if outcome.error is not None:
            return error_response(outcome.error)
        assert outcome.record_id is not None
        return Response(
            status_code=204, headers={"Location": record_location(request, outcome.record_id)}
        )

    def governed(handler: Callable[[Request], Awaitable[Response]]):
        async def wrapper(request: Request) -> Response:
            body = await request.body()
            denied = await authenticate(request, body)
            if denied is not None:
                return denied
            cap = limit()
            with gate:
                if cap and in_flight[0] >= cap:
                    busy = True
                else:
                    busy = False
                    in_flight[0] += 1
            if busy:
                return netsuite_error(
                    429,
                    "CONCURRENCY_LIMIT_EXCEEDED",
                    "Concurrent request limit exceeded. Request blocked.",
                    {"Retry-After": "1"},
                )
            try:
                request.state.body = body
                return await handler(request)
            finally:
                with gate:
                    in_flight[0] -= 1

        return wrapper

    def parse(body: bytes) -> Any:
        try:
            # numbers stay exact: Decimal, never float
            return json.loads(body, parse_float=Decimal)
        except ValueError:
            raise RecordError("INVALID_CONTENT", "The request body is not valid JSON.") from None

    def run_job(job: Job) -> None:
        for task in job.tasks:
            task.outcome = process(
                db_path, task.external_id, task.body, key=job.idempotency_key, mode="async"
            )
        job.progress = (
            "failed" if any(t.outcome and t.outcome.error for t in job.tasks) else "succeeded"
        )
        job.completed = True

    def submit(request: Request, tasks: list[Task]) -> Response:
        key = request.headers.get("x-netsuite-idempotency-key")
        job, new = store.submit(tasks, key)
        location = f"{ASYNC_PATH}/{job.id}"
        if not new:
            return netsuite_error(
                400,
                "IDEMPOTENCY_ERROR",
                "A request with the same idempotency key is already submitted. See the "
                '"Location" header for a link to the previously submitted job',
                {"Location": location, "Preference-Applied": "respond-async"},
            )
        return Response(
            status_code=202,
            headers={"Location": location, "Preference-Applied": "respond-async"},
            background=BackgroundTask(run_job, job),
        )

    def wants_async(request: Request) -> bool:
        return "respond-async" in request.headers.get("prefer", "").lower()

    @governed
    async def upsert_one(request: Request) -> Response:
        key = request.path_params["key"]
        if not key.startswith("eid:"):
            return netsuite_error(
                400, "USER_ERROR", "Upsert (PUT) takes an external ID: .../journalEntry/eid:<id>."
            )
        try:
            body = parse(request.state.body)
        except RecordError as exc:
            return error_response(exc)
        external_id = key.removeprefix("eid:")
        if wants_async(request):
            return submit(request, [Task(1, external_id, body)])
        outcome = await run_in_threadpool(
            process,
            db_path,
            external_id,
            body,
            key=request.headers.get("x-netsuite-idempotency-key"),
            mode="sync",
        )
        return outcome_response(request, outcome)

    @governed
    async def upsert_batch(request: Request) -> Response:
        if not wants_async(request):
            return netsuite_error(400, "USER_ERROR", "Batch operations need Prefer: respond-async.")
        if "type=collection" not in request.headers.get("content-type", "").replace(" ", ""):
            return netsuite_error(
                400, "USER_ERROR", f"Batch operations need Content-Type: {COLLECTION_TYPE}."
            )
        try:
            body = parse(request.state.body)
        except RecordError as exc:
            return error_response(exc)
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH:
            return netsuite_error(400, "USER_ERROR", f"A batch has 1 to {MAX_BATCH} items.")
        tasks = [
            Task(n + 1, item.get("externalId") if isinstance(item, dict) else None, item)
            for n, item in enumerate(items)
        ]
        return submit(request, tasks)

    @governed
    async def get_record(request: Request) -> Response:
        entry = await run_in_threadpool(read_entry, db_path, request.path_params["key"])
        if entry is None:
            return netsuite_error(
                404,
                "NONEXISTENT_ID",
                "The record instance does not exist. Provide a valid record instance ID.",
            )
        entry["links"] = [{"rel": "self", "href": record_location(request, int(entry["id"]))}]
        return Response(json.dumps(entry), 200, media_type="application/json")

    def job_of(request: Request) -> Job:
        job = store.jobs.get(int(request.path_params["job"]))
        if job is None:
            raise RecordError("NONEXISTENT_ID", "The job does not exist.", 404)
        return job

    def task_of(request: Request) -> tuple[Job, Task]:
        job = job_of(request)
        n = int(request.path_params["task"])
        if not 1 <= n <= len(job.tasks):
            raise RecordError("NONEXISTENT_ID", "The task does not exist.", 404)
        return job, job.tasks[n - 1]

    def href(request: Request, path: str) -> str:
        return f"{str(request.base_url).rstrip('/')}{path}"

    def as_json(body: dict) -> Response:
        return Response(json.dumps(body), 200, media_type="application/json")

    @governed
    async def job_status(request: Request) -> Response:
        try:
            job = job_of(request)
        except RecordError as exc:
            return error_response(exc)
        path = f"{ASYNC_PATH}/{job.id}"
        return as_json(
            {
                "links": [{"rel": "self", "href": href(request, path)}],
                "completed": job.completed,
                "id": str(job.id),
                "progress": job.progress,
                "task": {"links": [{"rel": "self", "href": href(request, path + "/task")}]},
            }
        )

    @governed
    async def job_tasks(request: Request) -> Response:
        try:
            job = job_of(request)
        except RecordError as exc:
            return error_response(exc)
        items = [
            {
                "links": [
                    {"rel": "self", "href": href(request, f"{ASYNC_PATH}/{job.id}/task/{t.id}")}
                ]
            }
            for t in job.tasks
        ]
        return as_json(
            {
                "items": items,
                "count": len(items),
                "hasMore": False,
                "offset": 0,
                "totalResults": len(items),
            }
        )

    @governed
    async def task_status(request: Request) -> Response:
        try:
            job, task = task_of(request)
        except RecordError as exc:
            return error_response(exc)
        path = f"{ASYNC_PATH}/{job.id}/task/{task.id}"
        done = task.outcome is not None
        progress = "pending" if not done else ("failed" if task.outcome.error else "succeeded")
        return as_json(
            {
                "links": [
                    {"rel": "related", "href": href(request, path + "/result")},
                    {"rel": "self", "href": href(request, path)},
                ],
                "completed": done,
                "id": str(task.id),
                "progress": progress,
            }
        )

    @governed
    async def task_result(request: Request) -> Response:
        try:
            _, task = task_of(request)
        except RecordError as exc:
            return error_response(exc)
        if task.outcome is None:
            return netsuite_error(404, "NONEXISTENT_ID", "The task has no result yet.")
        return outcome_response(request, task.outcome)

    async def journal(request: Request) -> Response:
        return as_json({"items": await run_in_threadpool(read_journal, db_path)})

    return [
        Route(RECORD_PATH, upsert_batch, methods=["PUT"]),
        Route(RECORD_PATH + "/{key}", upsert_one, methods=["PUT"]),
        Route(RECORD_PATH + "/{key}", get_record, methods=["GET"]),
        Route(ASYNC_PATH + "/{job:int}", job_status, methods=["GET"]),
        Route(ASYNC_PATH + "/{job:int}/task", job_tasks, methods=["GET"]),
        Route(ASYNC_PATH + "/{job:int}/task/{task:int}", task_status, methods=["GET"]),
        Route(ASYNC_PATH + "/{job:int}/task/{task:int}/result", task_result, methods=["GET"]),
        Route("/__sandbox/record-journal", journal, methods=["GET"]),
    ]
