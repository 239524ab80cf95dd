"""REST resources under `/services/data/vXX.X/`: query/queryAll, sObjects, sObject Collections,
getUpdated/getDeleted, describe and limits.

Handlers are synchronous (Starlette runs them in its thread pool) and take the shared `Context`,
the request, the API version and the path segments after the version.
"""

from __future__ import annotations

import json
import re
from array import array
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.salesforce import describe as desc
from sandbox.salesforce.context import (
    Context,
    Cursor,
    corrupt_json_record,
    row_errors,
    sf_error,
)
from sandbox.salesforce.org import ORG, SObjectDef, normalize_id
from sandbox.salesforce.query_plan import Plan, build_plan, sf_datetime
from sandbox.salesforce.soql import SoqlError, parse
from sandbox.salesforce.store import parse_sf_datetime
from sandbox.salesforce.writes import Row, RowError, RowResult, Writer

DEFAULT_BATCH = 2000
MAX_COLLECTION = 200
_BATCH = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError as exc:
        raise _BadRequest("JSON_PARSER_ERROR", f"Unexpected character: {exc}") from exc


class _BadRequest(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def writer(ctx: Context, request: Request, request_id: str | None = None) -> Writer:
    """A `Writer` for the authenticated user, with the row faults wired in."""

    def row_fault(record_id: str) -> RowError | None:
        if ctx.faults.fire("unable_to_lock_row", request.url.path, record_id):
            return RowError(
                "UNABLE_TO_LOCK_ROW",
                f"unable to obtain exclusive access to this record or 1 records: {record_id}",
            )
        if ctx.faults.fire("ingest_row_invalid", request.url.path, record_id):
            return RowError(
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                "Billing fields can only change through the billing sync (validation rule)",
            )
        return None

    return Writer(
        ctx.store,
        user_id=request.state.user_id,
        request_id=request_id or request.state.request_id,
        row_fault=row_fault,
    )


def handle(ctx: Context, request: Request, version: str, parts: list[str], body: bytes) -> Response:
    """Dispatch one REST request (everything after `/services/data/vXX.X/`)."""
    try:
        return _dispatch(ctx, request, version, parts, body)
    except SoqlError as exc:
        return sf_error(400, exc.code, exc.message)
    except _BadRequest as exc:
        return sf_error(exc.status, exc.code, exc.message)


def _dispatch(
    ctx: Context, request: Request, version: str, parts: list[str], body: bytes
) -> Response:
    method = request.method
    head = parts[0] if parts else ""
    if not parts:
        base = f"/services/data/v{version}"
        names = ("sobjects", "query", "queryAll", "limits", "composite", "jobs")
        return JSONResponse({k: f"{base}/{k}" for k in names})
    if head in ("query", "queryAll") and method == "GET":
        if len(parts) == 1:
            return query(ctx, request, version, include_deleted=head == "queryAll")
        return query_more(ctx, request, version, parts[1])
    if head == "limits" and method == "GET":
        return limits(ctx)
    if head == "sobjects":
        return sobjects(ctx, request, version, parts[1:], body)
    if head == "composite" and len(parts) >= 2 and parts[1] == "sobjects":
        return collections(ctx, request, version, parts[2:], body)
    return sf_error(404, "NOT_FOUND", "The requested resource does not exist")


# -- query ---------------------------------------------------------------------------------------
def _batch_size(request: Request, default: int) -> int:
    m = _BATCH.search(request.headers.get("sforce-query-options", ""))
    if not m:
        return default
    return max(200, min(2000, int(m.group(1))))  # a hint within 200..2,000, as documented


def query(ctx: Context, request: Request, version: str, include_deleted: bool) -> Response:
    """REST `query`/`queryAll`: snapshot the result, answer the first page."""
    text = request.query_params.get("q")
    if not text:
        return sf_error(400, "MALFORMED_QUERY", "A query string has to be specified")
    plan = build_plan(parse(text), ctx.store.now())
    if plan.group_by:
        return sf_error(400, "MALFORMED_QUERY", "GROUP BY is not supported by this sandbox")
    conn = ctx.store.conn()
    sql, params = plan.snapshot_sql(include_deleted)
    rowids = array("q", (r[0] for r in conn.execute(sql, params)))
    if plan.count_only:
        return JSONResponse({"totalSize": len(rowids), "done": True, "records": []})
    if plan.aggregate_alias is not None:
        return _aggregate(ctx, plan, rowids)
    cursor = Cursor(plan, rowids, version, _batch_size(request, DEFAULT_BATCH),
                    user_id=request.state.user_id)  # fmt: skip
    cursor.select_sql = plan.page_sql(plan.json_select(version))
    endpoint = "queryAll" if include_deleted else "query"
    return _page(ctx, request, cursor, 0, None, endpoint)


def _aggregate(ctx: Context, plan: Plan, rowids: array) -> Response:
    # COUNT(field) counts the non-null values of the field over the matching rows.
    sql = plan.page_sql(f"count({plan.count_sql})")
    n = ctx.store.conn().execute(sql, (json.dumps(rowids.tolist()),)).fetchone()[0]
    record = {"attributes": {"type": "AggregateResult"}, plan.aggregate_alias: n}
    return JSONResponse({"totalSize": 1, "done": True, "records": [record]})


def query_more(ctx: Context, request: Request, version: str, token: str) -> Response:
    """The page of a cursor at `<locator>-<offset>` (`nextRecordsUrl`)."""
    locator, _, start = token.rpartition("-")
    cursor = ctx.cursor(locator)
    if cursor is None or not start.isdigit():
        return sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    endpoint = request.url.path.split("/")[4]
    return _page(ctx, request, cursor, int(start), locator, endpoint)


def _page(
    ctx: Context,
    request: Request,
    cursor: Cursor,
    start: int,
    locator: str | None,
    endpoint: str,
) -> Response:
    batch = _batch_size(request, cursor.batch)
    ids = cursor.rowids[start : start + batch].tolist()
    rows = ctx.store.conn().execute(cursor.select_sql, (json.dumps(ids),)).fetchall()
    records = [r[0] for r in rows]
    if records and ctx.faults.fire("malformed_record", request.url.path):
        records[len(records) // 2] = corrupt_json_record(records[len(records) // 2], cursor.plan)
    end = start + len(ids)
    done = end >= len(cursor.rowids)
    head = f'{{"totalSize":{len(cursor.rowids)},"done":{"true" if done else "false"},'
    if not done:
        if locator is None:
            locator = ctx.add_cursor(cursor)
        head += f'"nextRecordsUrl":"/services/data/v{cursor.version}/{endpoint}/{locator}-{end}",'
    text = head + '"records":[' + ",".join(records) + "]}"
    ctx.after_page(cursor.plan, ids, request.url.path)
    return Response(text, media_type="application/json;charset=UTF-8")


# -- limits --------------------------------------------------------------------------------------
def limits(ctx: Context) -> Response:
    """`GET /limits`: the daily API allocation and what is left of it."""
    used, limit = ctx.usage()
    return JSONResponse(
        {
            "DailyApiRequests": {"Max": limit, "Remaining": max(limit - used, 0)},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DataStorageMB": {"Max": 5120, "Remaining": 5000},
        }
    )


# -- sObjects ------------------------------------------------------------------------------------
def _object(name: str) -> SObjectDef:
    obj = ORG.get(name)
    if obj is None:
        raise _BadRequest("NOT_FOUND", "The requested resource does not exist", 404)
    return obj


def _record_json(obj: SObjectDef, body: dict[str, Any], version: str,
                 fields: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {
        "attributes": {"type": obj.name,
                       "url": f"/services/data/v{version}/sobjects/{obj.name}/{body['Id']}"}
    }  # fmt: skip
    names = [f.name for f in obj.fields]
    if fields:
        names = []
        for name in fields:
            fld = obj.field(name.strip())
            if fld is None:
                raise _BadRequest(
                    "INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}"
                )
            names.append(fld.name)
    for name in names:
        out[name] = body.get(name)
    return out


def sobjects(
    ctx: Context, request: Request, version: str, parts: list[str], body: bytes
) -> Response:
    """`/sobjects/...`: describe, create, get/update/delete by id or external id, replication."""
    method = request.method
    if not parts:
        return JSONResponse(desc.global_describe(version))
    obj = _object(parts[0])
    if len(parts) == 1:
        if method == "GET":
            return JSONResponse({"objectDescribe": desc.basic(obj, version), "recentItems": []})
        if method == "POST":
            values = _json_body(body)
            if not isinstance(values, dict):
                raise _BadRequest("JSON_PARSER_ERROR", "Expected a JSON object")
            result = writer(ctx, request).run(obj, [Row("insert", values)], text=False)[0]
            if not result.success:
                return row_errors(400, result.errors)
            return JSONResponse({"id": result.id, "success": True, "errors": []}, status_code=201)
        return _method_not_allowed(method)
    second = parts[1]
    if len(parts) == 2 and second == "describe" and method == "GET":
        return JSONResponse(desc.describe(obj, version))
    if len(parts) == 2 and second in ("updated", "deleted") and method == "GET":
        return _replication(ctx, request, obj, second)
    if len(parts) == 2:
        return _by_id(ctx, request, version, obj, second, body)
    if len(parts) == 3:
        return _by_external_id(ctx, request, version, obj, second, parts[2], body)
    return sf_error(404, "NOT_FOUND", "The requested resource does not exist")


def _method_not_allowed(method: str) -> Response:
    return sf_error(
        405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET,POST"
    )


def _by_id(
    ctx: Context, request: Request, version: str, obj: SObjectDef, raw_id: str, body: bytes
) -> Response:
    rid = normalize_id(raw_id)
    found = ctx.store.get(rid) if rid else None
    if found is None or found[0] != obj.name or found[2]:
        if rid is None:
            return sf_error(404, "NOT_FOUND", f"Provided external ID field does not exist or "
                                              f"is not accessible: {raw_id}")  # fmt: skip
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
    method = request.method
    if method == "GET":
        fields = request.query_params.get("fields")
        return JSONResponse(
            _record_json(obj, found[1], version, fields.split(",") if fields else None)
        )
    if method in ("PATCH", "DELETE"):
        refusal = _precondition(request, found[1])
        if refusal is not None:
            return refusal
    if method == "PATCH":
        values = _json_body(body)
        if not isinstance(values, dict):
            raise _BadRequest("JSON_PARSER_ERROR", "Expected a JSON object")
        result = writer(ctx, request).run(obj, [Row("update", values, record_id=rid)],
                                          text=False)[0]  # fmt: skip
        return Response(status_code=204) if result.success else row_errors(400, result.errors)
    if method == "DELETE":
        result = writer(ctx, request).run(obj, [Row("delete", {}, record_id=rid)], text=False)[0]
        return Response(status_code=204) if result.success else row_errors(400, result.errors)
    return _method_not_allowed(method)


def _precondition(request: Request, body: dict[str, Any]) -> Response | None:
    """412 when `If-Unmodified-Since` is older than the record's last change.

    Salesforce honours the header on sObject rows (API 43.0+): a writer that read a record at
    time T can refuse to overwrite a person's later edit.
    """
    since = request.headers.get("if-unmodified-since")
    if not since:
        return None
    try:
        limit = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        raise _BadRequest("INVALID_HEADER_VALUE", f"Invalid If-Unmodified-Since: {since}") from None
    if limit.tzinfo is None:
        limit = limit.replace(tzinfo=UTC)
    modified = parse_sf_datetime(body["LastModifiedDate"])
    if modified.replace(microsecond=0) > limit:
        return sf_error(
            412,
            "PRECONDITION_FAILED",
            f"The requested resource has been modified since {since}: "
            f"LastModifiedDate {body['LastModifiedDate']}",
        )
    return None


def _by_external_id(
    ctx: Context,
    request: Request,
    version: str,
    obj: SObjectDef,
    field_name: str,
    value: str,
    body: bytes,
) -> Response:
    fld = obj.field(field_name)
    if fld is None or not (fld.external_id or fld.name == "Id"):
        return sf_error(
            404,
            "NOT_FOUND",
            f"Provided external ID field does not exist or is not accessible: {field_name}",
        )
    method = request.method
    if method == "PATCH":
        values = _json_body(body)
        if not isinstance(values, dict):
            raise _BadRequest("JSON_PARSER_ERROR", "Expected a JSON object")
        for key in list(values):
            if key.lower() == fld.name.lower() and values[key] != value:
                raise _BadRequest("INVALID_FIELD", f"{fld.name} given in both URL and body")
        row = Row("upsert", values, external_field=fld.name, external_value=value)
        result = writer(ctx, request).run(obj, [row], text=False)[0]
        if result.multiple:
            urls = [f"/services/data/v{version}/sobjects/{obj.name}/{i}" for i in result.multiple]
            return JSONResponse(urls, status_code=300)
        if not result.success:
            return row_errors(400 if result.errors[0].code != "NOT_FOUND" else 404,
                              result.errors)  # fmt: skip
        payload = {"id": result.id, "success": True, "errors": [], "created": result.created}
        if result.created:
            return JSONResponse(payload, status_code=201)
        if float(version) < 46.0:
            return Response(status_code=204)
        return JSONResponse(payload, status_code=200)
    matches = ctx.store.find_by_field(obj, fld.name, value) if fld.name != "Id" else []
    if fld.name == "Id":
        return _by_id(ctx, request, version, obj, value, body)
    if len(matches) > 1:
        urls = [f"/services/data/v{version}/sobjects/{obj.name}/{m[0]}" for m in matches]
        return JSONResponse(urls, status_code=300)
    if not matches:
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
    if method == "GET":
        return JSONResponse(_record_json(obj, matches[0][1], version))
    if method == "DELETE":
        return _by_id(ctx, request, version, obj, matches[0][0], body)
    return _method_not_allowed(method)


def _parse_when(text: str | None, name: str) -> datetime:
    if not text:
        raise _BadRequest("MISSING_ARGUMENT", f"{name} parameter is required")
    raw = text.strip().rstrip(":").replace("Z", "+00:00").replace(" ", "+")
    if re.search(r"[+-]\d{4}$", raw):
        raw = raw[:-2] + ":" + raw[-2:]
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise _BadRequest("INVALID_REPLICATION_DATE", f"invalid {name} date: {text}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _replication(ctx: Context, request: Request, obj: SObjectDef, kind: str) -> Response:
    start = _parse_when(request.query_params.get("start"), "start")
    end = _parse_when(request.query_params.get("end"), "end")
    now = ctx.store.clock()
    earliest = now - timedelta(days=30)
    if start < earliest:
        raise _BadRequest(
            "INVALID_REPLICATION_DATE",
            f"startDate cannot be more than 30 days ago; earliest is {sf_datetime(earliest)}",
        )
    if end <= start:
        raise _BadRequest("INVALID_REPLICATION_DATE", "endDate must be after startDate")
    # Salesforce covers whole minutes, up to the present.
    latest = min(end, now)
    if end < now:
        latest = latest.replace(second=0, microsecond=0)
    lo, hi = sf_datetime(start), sf_datetime(latest)
    deleted = 1 if kind == "deleted" else 0
    rows = (
        ctx.store.conn()
        .execute(
            "SELECT id, system_modstamp FROM records WHERE sobject = ? AND system_modstamp >= ? "
            "AND system_modstamp <= ? AND is_deleted = ? ORDER BY system_modstamp, id",
            (obj.name, lo, hi, deleted),
        )
        .fetchall()
    )
    if kind == "updated":
        return JSONResponse({"ids": [r[0] for r in rows], "latestDateCovered": hi})
    return JSONResponse(
        {
            "deletedRecords": [{"id": r[0], "deletedDate": r[1]} for r in rows],
            "earliestDateAvailable": sf_datetime(earliest),
            "latestDateCovered": hi,
        }
    )


# -- sObject Collections -------------------------------------------------------------------------
def _collection_results(results: list[RowResult], upsert: bool) -> Response:
    out = []
    for r in results:
        item: dict[str, Any] = {
            "id": r.id if r.success else None,
            "success": r.success,
            "errors": [e.collection() for e in r.errors],
        }
        if upsert:
            item["created"] = r.created
        out.append(item)
    return JSONResponse(out)


def collections(
    ctx: Context, request: Request, version: str, parts: list[str], body: bytes
) -> Response:
    """`/composite/sobjects...`: sObject Collections create, update, upsert, retrieve, delete."""
    method = request.method
    if method == "DELETE" and not parts:
        ids = [i for i in request.query_params.get("ids", "").split(",") if i]
        if len(ids) > MAX_COLLECTION:
            return sf_error(400, "EXCEEDED_ID_LIMIT", "Exceeded max limit of 200 records")
        all_or_none = request.query_params.get("allOrNone", "false").lower() == "true"
        results: list[RowResult] = []
        w = writer(ctx, request)
        by_obj: dict[str, list[int]] = {}
        for index, raw in enumerate(ids):
            rid = normalize_id(raw)
            obj = ORG.object_of_id(rid) if rid else None
            by_obj.setdefault(obj.name if obj else "", []).append(index)
        results = [RowResult(id=None)] * len(ids)
        for name, indexes in by_obj.items():
            obj = ORG.get(name) if name else None
            if obj is None:
                for i in indexes:
                    results[i] = RowResult(
                        id=None, errors=[RowError("MALFORMED_ID", f"malformed id {ids[i]}")]
                    )
                continue
            rows = [Row("delete", {}, record_id=ids[i]) for i in indexes]
            for i, res in zip(indexes, w.run(obj, rows, text=False, all_or_none=all_or_none),
                              strict=True):  # fmt: skip
                results[i] = res
        return _collection_results(results, upsert=False)
    if method == "GET" or (method == "POST" and len(parts) == 1):
        if not parts:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        obj = _object(parts[0])
        if method == "GET":
            ids = request.query_params.get("ids", "").split(",")
            fields = request.query_params.get("fields", "").split(",")
        else:
            payload = _json_body(body) or {}
            ids, fields = payload.get("ids", []), payload.get("fields", [])
        out = []
        for raw in ids:
            rid = normalize_id(raw)
            found = ctx.store.get(rid) if rid else None
            ok = found is not None and found[0] == obj.name and not found[2]
            out.append(_record_json(obj, found[1], version, fields) if ok and found else None)
        return JSONResponse(out)
    payload = _json_body(body)
    if not isinstance(payload, dict) or not isinstance(payload.get("records"), list):
        raise _BadRequest("JSON_PARSER_ERROR", 'Expected {"allOrNone": ..., "records": [...]}')
    records = payload["records"]
    if len(records) > MAX_COLLECTION:
        return sf_error(400, "EXCEEDED_ID_LIMIT", "Exceeded max limit of 200 records")
    all_or_none = bool(payload.get("allOrNone", False))
    w = writer(ctx, request)
    if method == "PATCH" and len(parts) == 2:  # upsert on an external id
        obj = _object(parts[0])
        fld = obj.field(parts[1])
        if fld is None or not (fld.external_id or fld.name == "Id"):
            return sf_error(400, "INVALID_FIELD", f"Field {parts[1]} is not an external id")
        rows = []
        for rec in records:
            values = {k: v for k, v in rec.items() if k != "attributes"}
            ext_value = next((v for k, v in values.items() if k.lower() == fld.name.lower()), None)
            rows.append(Row("upsert", values, external_field=fld.name, external_value=ext_value))
        return _collection_results(w.run(obj, rows, text=False, all_or_none=all_or_none), True)
    if method not in ("POST", "PATCH") or parts:
        return _method_not_allowed(method)
    # create (POST) / update (PATCH): records may mix types; one transaction for all of them,
    # so allOrNone rolls back every type.
    items: list[tuple[SObjectDef, Row]] = []
    bad_type: dict[int, RowResult] = {}
    for index, rec in enumerate(records):
        kind = (rec.get("attributes") or {}).get("type") if isinstance(rec, dict) else None
        obj = ORG.get(str(kind))
        if obj is None:
            bad_type[index] = RowResult(
                id=None,
                errors=[RowError("INVALID_TYPE", f"sObject type '{kind}' is not supported")],
            )
            continue
        values = {k: v for k, v in rec.items() if k != "attributes"}
        if method == "POST":
            items.append((obj, Row("insert", values)))
        else:
            rid = values.pop("Id", None) or values.pop("id", None)
            items.append((obj, Row("update", values, record_id=rid)))
    if bad_type and all_or_none:
        rolled = RowError(
            "ALL_OR_NONE_OPERATION_ROLLED_BACK",
            "Record rolled back because not all records were valid and the request was using "
            "AllOrNone header",
        )
        results = [bad_type.get(i) or RowResult(id=None, errors=[rolled])
                   for i in range(len(records))]  # fmt: skip
        return _collection_results(results, upsert=False)
    done = iter(w.run_many(items, text=False, all_or_none=all_or_none))
    results = [bad_type[i] if i in bad_type else next(done) for i in range(len(records))]
    return _collection_results(results, upsert=False)
