"""The CRM writer: `q2c.writeback.CrmWriter` for Salesforce, through `SalesforceClient`.

- Reads: one SOQL per chunk, `SELECT Id, <match field>, <fields>, LastModifiedById,
  SystemModstamp FROM <object> WHERE <match field> IN (...)` (REST query).
- Small sets: sObject Collections, at most 200 records per request and `allOrNone: false`, so
  each record succeeds or fails alone
  (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections.htm):
  upsert `PATCH /services/data/vXX.X/composite/sobjects/{SObject}/{ExternalIdField}`, update
  `PATCH /services/data/vXX.X/composite/sobjects` (records with `attributes.type` and `id`).
  The answer is one `{id, success, errors[{statusCode, message, fields}], created}` per record,
  in request order.
- Large sets: Bulk API 2.0 ingest
  (https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/bulk_api_2_0.htm):
  `POST /jobs/ingest` (`object`, `externalIdFieldName`, `operation: upsert|update`, CSV, LF),
  `PUT /jobs/ingest/{id}/batches` (the CSV), `PATCH /jobs/ingest/{id}` `{"state":
  "UploadComplete"}`, poll `GET /jobs/ingest/{id}` until `JobComplete`/`Failed`/`Aborted`, then
  `successfulResults/` (`sf__Id`, `sf__Created`), `failedResults/` (`sf__Id`, `sf__Error`) and
  `unprocessedrecords/` (the rows never processed), joined back to the rows by the match field.
  In Bulk CSV an empty value leaves the field unchanged, so null is written as `#N/A`.
- JSON values are typed from describe: booleans as JSON booleans, numbers as strings (Salesforce
  reads `"12.50"` into a currency field, and no binary float ever carries money), dates as
  `YYYY-MM-DD`, empty as null.
Request-level failures become `WriteRequestFailed` (transient when the client's retries ran
out, otherwise not); per-record errors come back as `RowResult.errors`.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Sequence
from typing import Any

from simple_salesforce import Salesforce
from simple_salesforce.util import call_salesforce

from extractors.errors import TransientError
from extractors.salesforce.bulk import _headers, _record_usage
from extractors.salesforce.client import DEFAULT_TIMEOUT, SalesforceClient
from extractors.salesforce.errors import SalesforceExtractError
from extractors.salesforce.soql import _check_name, soql_string
from q2c.writeback import (
    CurrentRecord,
    RowError,
    RowResult,
    WriteRequestFailed,
    WriteRow,
)
from q2c.writeback.model import WriterStats

COLLECTION_LIMIT = 200
BULK_NULL = "#N/A"
TERMINAL = ("JobComplete", "Failed", "Aborted")


def json_value(sf_type: str | None, value: str | None) -> Any:
    """A payload value (API text) as the REST JSON body carries it."""
    if value is None or value == "":
        return None
    if sf_type == "boolean":
        return value.strip().lower() == "true"
    return value


def bulk_cell(values: dict[str, str | None], field: str) -> str:
    """One Bulk CSV cell: a field this row does not set stays empty (Bulk leaves it unchanged);
    a null is `#N/A` (Bulk writes null)."""
    if field not in values:
        return ""
    value = values[field]
    return BULK_NULL if value is None or value == "" else str(value)


def parse_bulk_error(text: str) -> RowError:
    """`CODE:message:FIELD1,FIELD2 --` (Bulk's `sf__Error`) as a `RowError`."""
    body = text.removesuffix(" --").strip()
    code, _, rest = body.partition(":")
    message, _, fields = rest.rpartition(":")
    if not message:  # no field part
        message, fields = rest, ""
    return RowError(code or "UNKNOWN", message, tuple(f for f in fields.split(",") if f))


class SalesforceWriter:
    """Implements `q2c.writeback.CrmWriter` over a logged-in `SalesforceClient`.

    Args:
        client: the connection (retries, re-login, API budget).
        poll_max: the longest pause between Bulk job polls, in seconds.
        bulk_timeout: how long a Bulk job may run before the write is reported failed.
    """

    def __init__(
        self, client: SalesforceClient, *, poll_max: float = 2.0, bulk_timeout: float = 900.0
    ) -> None:
        self.client = client
        self.poll_max = poll_max
        self.bulk_timeout = bulk_timeout
        self.stats = WriterStats()
        self._types: dict[str, dict[str, str]] = {}
        self._updateable: dict[str, set[str]] = {}
        self._picklists: dict[str, dict[str, list[str]]] = {}

    # -- wrapping ------------------------------------------------------------------------------
    def _call(self, what: str, fn: Any) -> Any:
        try:
            return self.client.call(what, fn)
        except SalesforceExtractError as exc:
            raise WriteRequestFailed(f"{exc} ({exc.hint})", transient=False) from exc
        except TransientError as exc:
            raise WriteRequestFailed(str(exc), transient=True) from exc

    def _describe(self, sobject: str) -> None:
        if sobject in self._types:
            return
        try:
            info = self.client.describe(sobject)
        except SalesforceExtractError as exc:
            raise WriteRequestFailed(f"{exc} ({exc.hint})", transient=False) from exc
        self._types[sobject] = {f["name"]: f["type"] for f in info["fields"]}
        self._updateable[sobject] = {f["name"] for f in info["fields"] if f.get("updateable")}
        self._picklists[sobject] = {
            f["name"]: [p["value"] for p in f.get("picklistValues") or [] if p.get("active")]
            for f in info["fields"]
        }

    def updateable_fields(self, sobject: str) -> set[str]:
        """Fields of `sobject` the integration user may update (describe)."""
        self._describe(sobject)
        return set(self._updateable[sobject])

    def picklist_values(self, sobject: str, field: str) -> list[str]:
        """The active values of a picklist field of `sobject` (describe's `picklistValues`)."""
        self._describe(sobject)
        return list(self._picklists[sobject].get(field, []))

    # -- reads ---------------------------------------------------------------------------------
    def integration_user_id(self, username: str) -> str | None:
        """The Id of the User named `username` (None if there is none)."""
        soql = f"SELECT Id FROM User WHERE Username = {soql_string(username)}"
        self.stats.queries += 1
        page = self._call("integration user", lambda sf: sf.query(soql, timeout=DEFAULT_TIMEOUT))
        records = page.get("records") or []
        return str(records[0]["Id"]) if records else None

    def read_current(
        self, sobject: str, match_on: str, match_values: Sequence[str], fields: Sequence[str]
    ) -> dict[str, CurrentRecord]:
        """Current values by match value (one query; records missing in the CRM are absent)."""
        if not match_values:
            return {}
        names = [_check_name(n) for n in ("Id", match_on, *fields, "LastModifiedById",
                                          "SystemModstamp")]  # fmt: skip
        cols = ", ".join(dict.fromkeys(names))
        values = ", ".join(soql_string(str(v)) for v in match_values)
        soql = f"SELECT {cols} FROM {_check_name(sobject)} WHERE {match_on} IN ({values})"
        out: dict[str, CurrentRecord] = {}
        for page in self.client.query_pages(soql, what=f"write-back read {sobject}"):
            self.stats.queries += 1
            for rec in page.get("records", []):
                if rec.get("IsDeleted"):
                    continue
                key = str(rec.get(match_on))
                out[key] = CurrentRecord(
                    record_id=str(rec["Id"]),
                    match_value=key,
                    values={f: rec.get(f) for f in fields},
                    last_modified_by_id=rec.get("LastModifiedById"),
                    system_modstamp=rec.get("SystemModstamp"),
                )
        return out

    # -- writes --------------------------------------------------------------------------------
    def write(
        self,
        sobject: str,
        match_on: str,
        operation: str,
        rows: Sequence[WriteRow],
        *,
        bulk: bool,
    ) -> list[RowResult]:
        """Write `rows`; one `RowResult` per row, in order."""
        if operation not in ("upsert", "update"):
            raise ValueError(f"unsupported write operation {operation!r}")
        if not rows:
            return []
        self._describe(sobject)
        if bulk:
            return self._bulk(sobject, match_on, operation, rows)
        out: list[RowResult] = []
        for start in range(0, len(rows), COLLECTION_LIMIT):
            out += self._collection(sobject, match_on, operation,
                                    rows[start : start + COLLECTION_LIMIT])  # fmt: skip
        return out

    def _collection(
        self, sobject: str, match_on: str, operation: str, rows: Sequence[WriteRow]
    ) -> list[RowResult]:
        types = self._types[sobject]
        records = []
        for row in rows:
            rec: dict[str, Any] = {"attributes": {"type": sobject}}
            if operation == "upsert":
                rec[match_on] = row.match_value
            else:
                rec["id"] = row.record_id or row.match_value
            rec.update({k: json_value(types.get(k), v) for k, v in row.values.items()})
            records.append(rec)
        body = json.dumps({"allOrNone": False, "records": records})
        path = "composite/sobjects" + (f"/{sobject}/{match_on}" if operation == "upsert" else "")

        def patch(sf: Salesforce) -> list[dict[str, Any]]:
            return sf.restful(path, method="PATCH", data=body, timeout=DEFAULT_TIMEOUT)

        self.stats.collection_calls += 1
        answers = self._call(f"sObject Collections {operation} {sobject}", patch)
        results = []
        for row, ans in zip(rows, answers, strict=True):
            errors = tuple(
                RowError(
                    str(e.get("statusCode")), str(e.get("message")), tuple(e.get("fields") or ())
                )  # fmt: skip
                for e in ans.get("errors") or ()
            )
            results.append(RowResult(row.match_value, bool(ans.get("success")), ans.get("id"),
                                     bool(ans.get("created")), errors))  # fmt: skip
        return results

    # -- Bulk API 2.0 --------------------------------------------------------------------------
    def _bulk_request(self, what: str, method: str, suffix: str, **kw: Any) -> Any:
        def send(sf: Salesforce) -> Any:
            response = call_salesforce(
                url=f"{sf.bulk2_url}ingest{suffix}", method=method, session=sf.session,
                headers=_headers(sf), timeout=DEFAULT_TIMEOUT, **kw,
            )  # fmt: skip
            _record_usage(self.client, response.headers)
            return response

        return self._call(what, send)

    def _bulk(
        self, sobject: str, match_on: str, operation: str, rows: Sequence[WriteRow]
    ) -> list[RowResult]:
        key = match_on if operation == "upsert" else "Id"
        fields = list(dict.fromkeys(f for r in rows for f in r.values))
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([key, *fields])
        for r in rows:
            ident = r.match_value if operation == "upsert" else (r.record_id or r.match_value)
            w.writerow([ident, *(bulk_cell(r.values, f) for f in fields)])
        spec: dict[str, Any] = {"object": sobject, "operation": operation,
                                "contentType": "CSV", "lineEnding": "LF"}  # fmt: skip
        if operation == "upsert":
            spec["externalIdFieldName"] = match_on
        what = f"Bulk {operation} {sobject}"
        job = self._bulk_request(f"{what}: create job", "POST", "/", data=json.dumps(spec)).json()
        job_id = job["id"]
        self.stats.bulk_jobs += 1

        def csv_headers(sf: Salesforce) -> dict[str, str]:
            return {**_headers(sf), "Content-Type": "text/csv"}

        def upload(sf: Salesforce) -> Any:
            response = call_salesforce(
                url=f"{sf.bulk2_url}ingest/{job_id}/batches", method="PUT", session=sf.session,
                headers=csv_headers(sf), data=buf.getvalue().encode("utf-8"),
                timeout=DEFAULT_TIMEOUT,
            )  # fmt: skip
            _record_usage(self.client, response.headers)
            return response

        self._call(f"{what}: upload", upload)
        self._bulk_request(f"{what}: close", "PATCH", f"/{job_id}",
                           data=json.dumps({"state": "UploadComplete"}))  # fmt: skip
        state = self._wait(what, job_id)
        results: dict[str, RowResult] = {}
        for rec in self._results(what, job_id, "successfulResults"):
            ident = rec.get(key, "")
            results[ident] = RowResult(ident, True, rec.get("sf__Id") or None,
                                       rec.get("sf__Created") == "true")  # fmt: skip
        for rec in self._results(what, job_id, "failedResults"):
            ident = rec.get(key, "")
            results[ident] = RowResult(
                ident,
                False,
                rec.get("sf__Id") or None,
                errors=(parse_bulk_error(rec.get("sf__Error", "")),),
            )
        for rec in self._results(what, job_id, "unprocessedrecords"):
            ident = rec.get(key, "")
            results[ident] = RowResult(ident, False, unprocessed=True, errors=(RowError(
                "UNPROCESSED", f"Bulk job {job_id} ended {state} before this row"),))  # fmt: skip
        out = []
        for r in rows:
            ident = r.match_value if operation == "upsert" else (r.record_id or r.match_value)
            out.append(results.get(ident) or RowResult(r.match_value, False, unprocessed=True))
        return [RowResult(r.match_value, x.success, x.record_id, x.created, x.errors,
                          x.unprocessed) for r, x in zip(rows, out, strict=True)]  # fmt: skip

    def _wait(self, what: str, job_id: str) -> str:
        deadline = time.monotonic() + self.bulk_timeout
        pause = 0.05
        while True:
            job = self._bulk_request(f"{what}: status", "GET", f"/{job_id}").json()
            state = str(job.get("state"))
            if state in TERMINAL:
                return state
            if time.monotonic() > deadline:
                raise WriteRequestFailed(
                    f"{what}: Bulk job {job_id} still {state} after {self.bulk_timeout:.0f} s",
                    transient=True,
                )
            time.sleep(pause)
            pause = min(self.poll_max, pause * 2)

    def _results(self, what: str, job_id: str, kind: str) -> list[dict[str, str]]:
        def get(sf: Salesforce) -> Any:
            response = call_salesforce(
                url=f"{sf.bulk2_url}ingest/{job_id}/{kind}/", method="GET", session=sf.session,
                headers=_headers(sf, accept="text/csv"), timeout=DEFAULT_TIMEOUT,
            )  # fmt: skip
            _record_usage(self.client, response.headers)
            return response

        text = self._call(f"{what}: {kind}", get).text
        if not text.strip():
            return []
        return list(csv.DictReader(io.StringIO(text)))
