"""Bulk API 2.0: query jobs (`/jobs/query`) and ingest jobs (`/jobs/ingest`).

Query jobs run when created and report `UploadComplete`, then `JobComplete` on the first poll,
so small jobs finish at once. The result set is the rows as they were when the job was created
(Salesforce also computes it at job time): `bulk_results` snapshots them and renders their CSV
once, in the background, into a spool file; a page streams as soon as its rows are rendered.
Results are CSV pages of `maxRecords` rows (default 50,000) with `Sforce-Locator` (base64 of the
next offset; the literal `null` on the last page) and `Sforce-NumberOfRecords`, every value
quoted; a locator can be read again while the job exists. A job is only served in the API
version that created it (409 otherwise). GROUP BY, OFFSET, aggregates and subqueries are
refused.

Ingest jobs take one CSV upload (`PUT .../batches`, 201, no body) and run on
`PATCH {"state": "UploadComplete"}`: each row is validated and written through `writes.Writer`
(request id = the job id), and `successfulResults/`, `failedResults/` and
`unprocessedrecords/` (path matched case-insensitively) give the rows back. An unknown column
header fails the whole job (`InvalidBatch : Field name not found`), as Salesforce does.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import secrets
import time
from array import array
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from sandbox.salesforce.bulk_results import QueryResult
from sandbox.salesforce.context import Context, corrupt_csv_row, sf_error
from sandbox.salesforce.org import ORG, SObjectDef, id18
from sandbox.salesforce.query_plan import Plan, build_plan, sf_datetime
from sandbox.salesforce.rest import writer
from sandbox.salesforce.soql import SoqlError, parse
from sandbox.salesforce.writes import Row, RowError, RowResult

DEFAULT_MAX_RECORDS = 50_000
# reads rendered pieces (and waits for rows still rendering) off the event loop
_SERVE_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="sf-bulk-serve")
_DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^",
               "BACKQUOTE": "`"}  # fmt: skip
_LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
_INGEST_OPS = ("insert", "update", "upsert", "delete", "hardDelete")
MAX_JOBS = 200  # finished jobs beyond this are forgotten, oldest first (Salesforce: 7 days)
# Query results spooled beyond this are dropped with their jobs, oldest first (simple-salesforce
# never deletes its jobs); the extractor deletes each job once read.
MAX_RESULT_BYTES = 2 << 30


@dataclass
class Job:
    """One Bulk API 2.0 job (query or ingest) and its results."""

    id: str
    kind: str  # query / ingest
    operation: str
    obj: SObjectDef
    version: str
    created_by: str
    created: str
    delimiter: str = "COMMA"
    line_ending: str = "LF"
    state: str = "Open"
    external_id: str | None = None
    error: str | None = None
    plan: Plan | None = None
    rowids: array = field(default_factory=lambda: array("q"))
    result: QueryResult | None = None  # a query job's rendered rows
    data: str | None = None
    header: list[str] = field(default_factory=list)
    results: list[tuple[list[str], RowResult]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    elapsed_ms: int = 0

    def info(self, full: bool) -> dict[str, Any]:
        """The job's JSON; `full` adds the status fields of `GET .../jobs/{kind}/{id}`."""
        out: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.obj.name,
            "createdById": self.created_by,
            "createdDate": self.created,
            "systemModstamp": self.created,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.version),
        }
        if self.kind == "ingest":
            if self.external_id:
                out["externalIdFieldName"] = self.external_id
            out["contentUrl"] = f"services/data/v{self.version}/jobs/ingest/{self.id}/batches"
        out["lineEnding"] = self.line_ending
        out["columnDelimiter"] = self.delimiter
        if full:
            processed = len(self.rowids) if self.kind == "query" else len(self.results)
            out["jobType"] = "V2Query" if self.kind == "query" else "V2Ingest"
            out["numberRecordsProcessed"] = (
                processed if self.state == "JobComplete" or (self.kind == "ingest") else 0
            )
            if self.kind == "ingest":
                out["numberRecordsFailed"] = sum(1 for _v, r in self.results if not r.success)
            out["retries"] = 0
            out["totalProcessingTime"] = self.elapsed_ms
            if self.kind == "ingest":
                out["apiActiveProcessingTime"] = self.elapsed_ms
                out["apexProcessingTime"] = 0
            else:
                out["isPkChunkingSupported"] = True
            if self.error:
                out["errorMessage"] = self.error
        return out


def handle(ctx: Context, request: Request, version: str, parts: list[str], body: bytes) -> Response:
    """Dispatch `/jobs/query...` and `/jobs/ingest...` (parts after `jobs`)."""
    if not parts or parts[0] not in ("query", "ingest"):
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
    kind, rest, method = parts[0], parts[1:], request.method
    if not rest:
        if method == "POST":
            return _create(ctx, request, version, kind, body)
        if method == "GET":
            jobs = [j.info(False) for j in ctx.jobs.values() if j.kind == kind]
            return JSONResponse({"done": True, "records": jobs, "nextRecordsUrl": None})
        return sf_error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed")
    job = ctx.jobs.get(rest[0])
    if job is None or job.kind != kind:
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
    if job.version != version:
        return sf_error(
            409,
            "INVALIDJOBSTATE",
            f"Job {job.id} was created with API version {job.version}; "
            f"use the same version to access it",
        )
    if len(rest) == 1:
        if method == "GET":
            return JSONResponse(_poll(ctx, job))
        if method == "PATCH":
            return _patch(ctx, request, job, body)
        if method == "DELETE":
            if job.state in ("Open", "UploadComplete", "InProgress"):
                return sf_error(400, "INVALIDJOBSTATE", "Job is not in a terminal state")
            _forget(ctx, job)
            return Response(status_code=204)
    sub = rest[1].lower() if len(rest) == 2 else ""
    if kind == "query" and sub == "results" and method == "GET":
        return _query_results(ctx, request, job)
    if kind == "ingest" and sub == "batches" and method == "PUT":
        return _upload(job, request, body)
    if (
        kind == "ingest"
        and method == "GET"
        and sub
        in (
            "successfulresults",
            "failedresults",
            "unprocessedrecords",
        )
    ):
        return _ingest_results(job, sub)
    return sf_error(404, "NOT_FOUND", "The requested resource does not exist")


def _poll(ctx: Context, job: Job) -> dict[str, Any]:
    if job.state in ("UploadComplete", "InProgress") and job.kind == "query":
        if ctx.faults.fire("bulk_in_progress"):
            job.state = "InProgress"
            return job.info(True)
        if job.result is not None and job.result.error and not job.error:
            job.error = f"InternalServerError : {job.result.error}"
        job.state = "JobComplete" if not job.error else "Failed"
    elif (
        job.state == "InProgress"
        and job.kind == "ingest"
        and not ctx.faults.fire("bulk_in_progress")
    ):
        job.state = "JobComplete" if not job.error else "Failed"
    return job.info(True)


def _create(ctx: Context, request: Request, version: str, kind: str, body: bytes) -> Response:
    try:
        spec = json.loads(body or b"{}")
    except ValueError:
        return sf_error(400, "JSON_PARSER_ERROR", "The request body is not valid JSON")
    if not isinstance(spec, dict):
        return sf_error(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    delimiter = spec.get("columnDelimiter", "COMMA")
    line_ending = spec.get("lineEnding", "LF")
    if delimiter not in _DELIMITERS or line_ending not in _LINE_ENDINGS:
        return sf_error(400, "INVALIDJOB", "Invalid columnDelimiter or lineEnding")
    operation = spec.get("operation")
    job_id = id18("750" + secrets.token_hex(6).upper())
    now = sf_datetime(ctx.store.now())
    user_id = request.state.user_id
    if kind == "query":
        if operation not in ("query", "queryAll"):
            return sf_error(400, "INVALIDJOB", f"Invalid operation for a query job: {operation}")
        try:
            parsed = parse(str(spec.get("query", "")))
            plan = build_plan(parsed, ctx.store.now())
        except SoqlError as exc:
            return sf_error(400, exc.code, exc.message)
        refusal = None
        if plan.group_by:
            refusal = "GROUP BY is not supported by Bulk API 2.0 query jobs"
        elif parsed.offset is not None:
            refusal = "OFFSET is not supported by Bulk API 2.0 query jobs"
        elif plan.count_only or plan.aggregate_alias is not None:
            refusal = "Aggregate queries are not supported by Bulk API 2.0 query jobs"
        if refusal:
            return sf_error(400, "INVALIDJOB", refusal)
        job = Job(job_id, "query", operation, plan.sobject, version, user_id, now,
                  delimiter, line_ending, state="UploadComplete", plan=plan)  # fmt: skip
        if ctx.faults.fire("bulk_job_failed", request.url.path):
            job.error = "InternalServerError : the query job failed after retries"
        else:
            t0 = time.perf_counter()
            job.result = QueryResult.start(
                ctx.store,
                plan,
                include_deleted=operation == "queryAll",
                delimiter=_DELIMITERS[delimiter],
                eol=_LINE_ENDINGS[line_ending],
            )
            job.rowids = job.result.rowids
            job.elapsed_ms = int((time.perf_counter() - t0) * 1000)
        _remember(ctx, job)
        return JSONResponse(job.info(False))
    if operation not in _INGEST_OPS:
        return sf_error(400, "INVALIDJOB", f"Invalid operation: {operation}")
    obj = ORG.get(str(spec.get("object", "")))
    if obj is None:
        return sf_error(400, "INVALIDJOB", f"sObject type '{spec.get('object')}' is not supported")
    ext = spec.get("externalIdFieldName")
    if operation == "upsert":
        fld = obj.field(str(ext or ""))
        if fld is None or not (fld.external_id or fld.name == "Id"):
            return sf_error(
                400, "INVALIDJOB", f"External ID field {ext!r} is not an external id of {obj.name}"
            )
        ext = fld.name
    job = Job(job_id, "ingest", operation, obj, version, user_id, now, delimiter, line_ending,
              external_id=ext if operation == "upsert" else None)  # fmt: skip
    _remember(ctx, job)
    return JSONResponse(job.info(False))


def _remember(ctx: Context, job: Job) -> None:
    ctx.jobs[job.id] = job
    if len(ctx.jobs) > MAX_JOBS:
        done = [j for j in ctx.jobs.values() if j.state in ("JobComplete", "Failed", "Aborted")]
        for old in done[: len(ctx.jobs) - MAX_JOBS]:
            _forget(ctx, old)
    spooled = [
        (j, j.result.nbytes) for j in ctx.jobs.values() if j.result is not None and j is not job
    ]
    total = sum(size for _j, size in spooled)
    for old, size in spooled:  # oldest first
        if total <= MAX_RESULT_BYTES:
            break
        total -= size
        _forget(ctx, old)


def _forget(ctx: Context, job: Job) -> None:
    ctx.jobs.pop(job.id, None)
    if job.result is not None:
        job.result.close()


def _upload(job: Job, request: Request, body: bytes) -> Response:
    if job.state != "Open":
        return sf_error(400, "INVALIDJOBSTATE", "Job is not open for uploads")
    if job.data is not None:
        return sf_error(400, "INVALIDJOBSTATE", "Job data was already uploaded for this job")
    try:
        job.data = body.decode("utf-8")
    except UnicodeDecodeError:
        return sf_error(400, "INVALIDJOB", "Job data must be UTF-8 CSV")
    return Response(status_code=201)


def _patch(ctx: Context, request: Request, job: Job, body: bytes) -> Response:
    try:
        state = json.loads(body or b"{}").get("state")
    except (ValueError, AttributeError):
        return sf_error(400, "JSON_PARSER_ERROR", "The request body is not valid JSON")
    if state == "Aborted":
        if job.state in ("JobComplete", "Failed", "Aborted"):
            return sf_error(400, "INVALIDJOBSTATE", f"Job is already {job.state}")
        job.state = "Aborted"
        if job.result is not None:
            job.result.close()
        if job.kind == "ingest":
            job.unprocessed = _parse_rows(job)[1] if job.data and not job.results else []
        return JSONResponse(job.info(False))
    if state != "UploadComplete" or job.kind != "ingest":
        return sf_error(400, "INVALIDJOBSTATE", f"Cannot change the job's state to {state}")
    if job.state != "Open":
        return sf_error(400, "INVALIDJOBSTATE", "Job is not open")
    job.state = "UploadComplete"
    response = JSONResponse(job.info(False))
    _run_ingest(ctx, request, job)
    return response


def _parse_rows(job: Job) -> tuple[list[str], list[list[str]]]:
    text = job.data or ""
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=_DELIMITERS[job.delimiter], strict=True
    )
    rows = [r for r in reader if r]
    if not rows:
        return [], []
    return rows[0], rows[1:]


def _run_ingest(ctx: Context, request: Request, job: Job) -> None:
    t0 = time.perf_counter()
    try:
        header, rows = _parse_rows(job)
    except csv.Error as exc:
        job.state, job.error = "Failed", f"InvalidBatch : CSV could not be parsed: {exc}"
        return
    job.header = header
    if job.data is None or not header:
        job.state, job.error = "Failed", "InvalidBatch : No data was uploaded for this job"
        return
    unknown = [h for h in header if job.obj.field(h) is None]
    if unknown:
        job.state, job.error = "Failed", f"InvalidBatch : Field name not found : {unknown[0]}"
        job.unprocessed = rows
        return
    if job.operation in ("delete", "hardDelete") and [h.lower() for h in header] != ["id"]:
        job.state = "Failed"
        job.error = "InvalidBatch : The 'delete' batch must contain only 'Id' field"
        job.unprocessed = rows
        return
    if ctx.faults.fire("bulk_job_failed", request.url.path):
        job.state = "Failed"
        job.error = "InternalServerError : Failed to process the job after retries"
        job.unprocessed = rows
        return
    id_col = next((i for i, h in enumerate(header) if h.lower() == "id"), None)
    ext_col = (
        next((i for i, h in enumerate(header) if h.lower() == job.external_id.lower()), None)
        if job.external_id
        else None
    )
    writes: list[Row] = []
    bad: dict[int, RowResult] = {}
    for index, values in enumerate(rows):
        if len(values) != len(header):
            bad[index] = RowResult(
                id=None,
                errors=[RowError("INVALID_FIELD", "Wrong number of columns in this row")],
            )
            writes.append(Row("insert", {}))
            continue
        fields = dict(zip(header, values, strict=True))
        rid = values[id_col] if id_col is not None else None
        if job.operation in ("update", "delete", "hardDelete"):
            if id_col is not None:
                fields.pop(header[id_col], None)
            writes.append(Row("delete" if "elete" in job.operation else "update", fields,
                              record_id=rid or None))  # fmt: skip
        elif job.operation == "upsert":
            ext_value = values[ext_col] if ext_col is not None else None
            writes.append(Row("upsert", fields, external_field=job.external_id,
                              external_value=ext_value or None))  # fmt: skip
        else:
            writes.append(Row("insert", fields))
    good_index = [i for i in range(len(rows)) if i not in bad]
    results = writer(ctx, request, request_id=job.id).run(
        job.obj, [writes[i] for i in good_index], text=True
    )
    merged: dict[int, RowResult] = dict(bad)
    for i, res in zip(good_index, results, strict=True):
        if not res.success and res.id is None and job.operation in ("update", "delete"):
            res.id = rows[i][id_col] if id_col is not None else None
        merged[i] = res
    for res in merged.values():  # keep ids and errors, not the bodies written
        res.body = res.before = None
    job.results = [(rows[i], merged[i]) for i in range(len(rows))]
    job.data = None
    job.elapsed_ms = int((time.perf_counter() - t0) * 1000)
    job.state = "InProgress" if ctx.faults.fire("bulk_in_progress") else "JobComplete"


def _writer(buf: io.StringIO, job: Job) -> Any:
    return csv.writer(
        buf,
        delimiter=_DELIMITERS[job.delimiter],
        lineterminator=_LINE_ENDINGS[job.line_ending],
        quoting=csv.QUOTE_ALL,
    )


def _csv_text(job: Job, header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = _writer(buf, job)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _ingest_results(job: Job, sub: str) -> Response:
    if job.state in ("Open", "UploadComplete"):
        return sf_error(400, "INVALIDJOBSTATE", "Job is not complete")
    if sub == "successfulresults":
        rows = [[r.id or "", "true" if r.created else "false", *v]
                for v, r in job.results if r.success]  # fmt: skip
        text = _csv_text(job, ["sf__Id", "sf__Created", *job.header], rows)
    elif sub == "failedresults":
        rows = [[r.id or "", r.errors[0].bulk(), *v] for v, r in job.results if not r.success]
        text = _csv_text(job, ["sf__Id", "sf__Error", *job.header], rows)
    else:
        header = job.header or _parse_rows(job)[0]
        text = _csv_text(job, header, job.unprocessed) if header else ""
    return Response(text, media_type="text/csv")


def _query_results(ctx: Context, request: Request, job: Job) -> Response:
    if job.result is not None and job.result.error and not job.error:
        job.state, job.error = "Failed", f"InternalServerError : {job.result.error}"
    if job.state == "Failed":
        return sf_error(400, "INVALIDJOBSTATE", f"Job {job.id} failed: {job.error}")
    if job.state != "JobComplete":
        return sf_error(400, "JOB_NOT_COMPLETE", f"Job {job.id} is not complete")
    assert job.plan is not None and job.result is not None
    try:
        max_records = int(request.query_params.get("maxRecords", DEFAULT_MAX_RECORDS))
        locator = request.query_params.get("locator")
        start = int(base64.b64decode(locator).decode()) if locator else 0
    except ValueError:
        return sf_error(400, "INVALID_LOCATOR", "Invalid locator or maxRecords")
    if max_records < 1:
        return sf_error(400, "INVALIDJOB", "maxRecords must be a positive integer")
    if not 0 <= start <= len(job.rowids):
        return sf_error(400, "INVALID_LOCATOR", "Invalid locator or maxRecords")
    result, plan = job.result, job.plan
    end = min(start + max_records, len(job.rowids))
    ids = job.rowids[start:end].tolist()
    next_locator = base64.b64encode(str(end).encode()).decode() if end < len(job.rowids) else "null"
    path = request.url.path
    buf = io.StringIO()
    _writer(buf, job).writerow([c.header for c in plan.columns])
    header = buf.getvalue().encode()
    # the malformed_record fault replaces one row (the middle of the page's first 5,000)
    segments: list[tuple[int, int] | int] = [(start, end)]
    if ids and ctx.faults.fire("malformed_record", path) is not None:
        bad = start + min(len(ids), 5_000) // 2
        segments = [(start, bad), bad, (bad + 1, end)]

    def corrupt_line(row: int) -> bytes:
        values = (
            ctx.store.conn()
            .execute(plan.page_sql(plan.csv_select()), (json.dumps([job.rowids[row]]),))
            .fetchone()
        )
        out = io.StringIO()
        _writer(out, job).writerow(corrupt_csv_row(values, plan))
        return out.getvalue().encode()

    async def stream() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        yield header
        for segment in segments:
            if isinstance(segment, int):
                yield await loop.run_in_executor(_SERVE_POOL, corrupt_line, segment)
                continue
            row, stop = segment
            while row < stop:
                # a failure here (render error, job deleted) aborts the response mid-body
                row, data = await loop.run_in_executor(_SERVE_POOL, result.piece, row, stop)
                yield data
        await loop.run_in_executor(_SERVE_POOL, ctx.after_page, plan, ids, path)

    return StreamingResponse(
        stream(),
        media_type="text/csv",
        headers={"Sforce-Locator": next_locator, "Sforce-NumberOfRecords": str(len(ids))},
    )
