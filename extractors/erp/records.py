"""NetSuite's REST record service for journal entries: the ERP side of `q2c.exports`.

Implements `q2c.exports.JournalPoster`. Protocol (NetSuite REST web services):
- Upsert by external id ("Using the Upsert Operation"): `PUT {base}/services/rest/record/v1/
  journalEntry/eid:<external id>` with `externalId`, `subsidiary`, `currency`, `tranDate`,
  `postingPeriod`, `memo` and the `line` sublist `{"items": [{"account", "debit" | "credit",
  "memo", "entity"}]}`, references as `{"id": "<internal id>"}`; 204 with `Location:
  .../journalEntry/<internal id>`. The same external id always answers the same record, so a
  resend is harmless.
- Large batches (more than `async_threshold` entries) go as asynchronous batch upserts ("Batch
  Operations"): `PUT .../journalEntry` with `Prefer: respond-async`, `Content-Type:
  application/vnd.oracle.resource+json; type=collection` and `{"items": [...]}` (at most 100);
  202 with `Location: /services/rest/async/v1/job/<id>`; the job is polled until `completed`,
  then each task's `/result` is read (204 + Location, or the error).
- `X-NetSuite-Idempotency-Key`: a UUID per request (per entry, or per chunk: a UUID5 of its
  entries' keys); a chunk already submitted answers 400 `IDEMPOTENCY_ERROR` with the earlier
  job's `Location`, which is then read instead.
- `existing(ids)`: `GET .../journalEntry/eid:<id>` (404 `NONEXISTENT_ID`: not there).
- At most `max_in_flight` requests at once (NetSuite's concurrency governance; default 5);
  429 (`Retry-After` as a floor), 5xx and dropped connections retried with tenacity
  (jittered exponential backoff). A 4xx answer for an entry is the ERP's rejection: the
  result carries its `o:errorCode` and detail. Amounts go on the wire as exact JSON numbers
  (decimal text, never float). The token is never logged.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from decimal import Decimal
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt

from extractors.erp.suiteql import ErpCredentials, ErpHTTPError, backoff_wait, parse_error
from extractors.errors import AuthError, TransientError
from q2c.exports.entries import KEY_NAMESPACE, JournalEntry, PostResult

log = logging.getLogger(__name__)

SOURCE = "erp"
RECORD_PATH = "/services/rest/record/v1/journalEntry"
COLLECTION_TYPE = "application/vnd.oracle.resource+json; type=collection"
MAX_BATCH = 100


def to_json(value: Any) -> str:
    """JSON text with `Decimal` as an exact number (`12.50`), never through float."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    return json.dumps(value)


def _ref(internal_id: int | None) -> dict[str, str] | None:
    return None if internal_id is None else {"id": str(internal_id)}


def entry_body(entry: JournalEntry) -> dict[str, Any]:
    """The journalEntry record body of one entry (references by internal id)."""
    items = []
    for line in entry.lines:
        item: dict[str, Any] = {"account": _ref(line.erp_account_id)}
        if line.debit_minor:
            item["debit"] = line.debit
        else:
            item["credit"] = line.credit
        if line.memo:
            item["memo"] = line.memo
        if line.erp_entity_id is not None:
            item["entity"] = _ref(line.erp_entity_id)
        items.append(item)
    body: dict[str, Any] = {
        "externalId": entry.external_id,
        "subsidiary": _ref(entry.erp_subsidiary_id),
        "currency": _ref(entry.erp_currency_id),
        "tranDate": entry.trandate.isoformat(),
        "postingPeriod": _ref(entry.erp_period_id),
    }
    if entry.memo:
        body["memo"] = entry.memo
    body["line"] = {"items": items}
    return {k: v for k, v in body.items() if v is not None}


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, ErpHTTPError) and (exc.status == 429 or exc.status >= 500)


def _record_id(location: str | None) -> str | None:
    return location.rstrip("/").rsplit("/", 1)[-1] if location else None


class RecordServiceClient:
    """Journal entries through NetSuite's REST record service (a `JournalPoster`).

    Args:
        creds: base URL and token.
        max_in_flight: requests at once (NetSuite's concurrency limit; default 5).
        async_threshold: batches larger than this go as async batch upserts of 100.
        attempts: tries per request on 429/5xx/transport errors.
        base_wait, max_wait: backoff multiplier and ceiling (seconds).
        poll_interval: seconds between polls of an async job.
        timeout: per-request timeout (seconds).
        sleep: the sleep function (tests may shorten waits).
    """

    def __init__(
        self,
        creds: ErpCredentials,
        *,
        max_in_flight: int = 5,
        async_threshold: int = 500,
        attempts: int = 8,
        base_wait: float = 0.5,
        max_wait: float = 30.0,
        poll_interval: float = 0.2,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.max_in_flight = max_in_flight
        self.async_threshold = async_threshold
        self.attempts = attempts
        self.base_wait = base_wait
        self.max_wait = max_wait
        self.poll_interval = poll_interval
        self._sleep = sleep
        self.requests_made = 0
        self.retries = 0
        self.http = httpx.Client(
            base_url=creds.base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {creds.token}", "Accept": "application/json"},
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_in_flight),
        )

    def close(self) -> None:
        self.http.close()

    # -- one request with retries ---------------------------------------------------------
    def _before_sleep(self, state: Any) -> None:
        self.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        what = exc.status if isinstance(exc, ErpHTTPError) else type(exc).__name__
        log.warning(
            "erp record service: attempt %d failed (%s), retrying", state.attempt_number, what
        )

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """The response of a request, retried on 429/5xx/transport; 4xx returned as is."""

        def once() -> httpx.Response:
            self.requests_made += 1
            response = self.http.request(method, url, **kwargs)
            if response.status_code == 429 or response.status_code >= 500:
                raise parse_error(response)
            return response

        try:
            for attempt in Retrying(
                retry=retry_if_exception(_is_transient),
                wait=lambda state: backoff_wait(state, self.base_wait, self.max_wait),
                stop=stop_after_attempt(self.attempts),
                before_sleep=self._before_sleep,
                sleep=self._sleep,
                reraise=True,
            ):
                with attempt:
                    response = once()
                    if response.status_code in (401, 403):
                        raise AuthError(
                            f"the ERP refused the token ({response.status_code})",
                            source=SOURCE,
                            hint="renew Q2C_ERP_TOKEN; the integration role needs Journal "
                            "Entry create/edit and REST web services permissions",
                        )
                    return response
        except (ErpHTTPError, httpx.TransportError) as exc:
            raise TransientError(
                f"record service request kept failing after {self.attempts} attempts ({exc})",
                source=SOURCE,
            ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _answer(self, entry: JournalEntry, response: httpx.Response) -> PostResult:
        if response.status_code in (200, 201, 204):
            rid = _record_id(response.headers.get("location"))
            return PostResult(entry.external_id, entry.idempotency_key, "posted", rid)
        err = parse_error(response)
        return PostResult(
            entry.external_id,
            entry.idempotency_key,
            "rejected",
            None,
            ",".join(err.codes) or str(response.status_code),
            err.detail,
        )

    # -- JournalPoster --------------------------------------------------------------------
    def post(self, entries: Sequence[JournalEntry]) -> Iterator[PostResult]:
        """Upsert every entry; yield each answer as it arrives (see the module docstring).

        An entry whose requests kept failing is logged and yields nothing (it stays pending).
        """
        if not entries:
            return
        if len(entries) > self.async_threshold:
            chunks = [entries[i : i + MAX_BATCH] for i in range(0, len(entries), MAX_BATCH)]
            work: list[tuple[Callable[..., list[PostResult]], Any]] = [
                (self._post_chunk, c) for c in chunks
            ]
        else:
            work = [(self._post_one, e) for e in entries]
        with ThreadPoolExecutor(max_workers=self.max_in_flight) as pool:
            futures = [pool.submit(fn, arg) for fn, arg in work]
            for future in as_completed(futures):
                try:
                    yield from future.result()
                except TransientError as exc:
                    log.warning("erp record service: left pending for the next run: %s", exc)

    def _post_one(self, entry: JournalEntry) -> list[PostResult]:
        response = self._request(
            "PUT",
            f"{RECORD_PATH}/eid:{entry.external_id}",
            content=to_json(entry_body(entry)),
            headers={
                "Content-Type": "application/json",
                "X-NetSuite-Idempotency-Key": entry.idempotency_key,
            },
        )
        return [self._answer(entry, response)]

    def _post_chunk(self, chunk: Sequence[JournalEntry]) -> list[PostResult]:
        key = str(uuid.uuid5(KEY_NAMESPACE, ",".join(e.idempotency_key for e in chunk)))
        response = self._request(
            "PUT",
            RECORD_PATH,
            content=to_json({"items": [entry_body(e) for e in chunk]}),
            headers={
                "Content-Type": COLLECTION_TYPE,
                "Prefer": "respond-async",
                "X-NetSuite-Idempotency-Key": key,
            },
        )
        location = response.headers.get("location")
        if response.status_code != 202:
            err = parse_error(response)
            if "IDEMPOTENCY_ERROR" not in err.codes or not location:
                # the whole request was refused: every entry carries the ERP's error
                return [self._answer(e, response) for e in chunk]
        assert location is not None
        job = self._poll(location)
        tasks = self._request("GET", job + "/task").json().get("items", [])
        if len(tasks) != len(chunk):
            raise TransientError(
                f"async job {job} has {len(tasks)} tasks for {len(chunk)} entries", source=SOURCE
            )
        results = []
        for entry, task in zip(chunk, tasks, strict=True):
            href = next(link["href"] for link in task["links"] if link["rel"] == "self")
            results.append(self._answer(entry, self._request("GET", href + "/result")))
        return results

    def _poll(self, location: str) -> str:
        """Wait for an async job to complete; its URL."""
        while True:
            status = self._request("GET", location).json()
            if status.get("completed"):
                return location
            self._sleep(self.poll_interval)

    def existing(self, external_ids: Sequence[str]) -> dict[str, str]:
        """Internal ids of the journal entries the ERP holds among `external_ids`."""

        def one(eid: str) -> tuple[str, str | None]:
            response = self._request("GET", f"{RECORD_PATH}/eid:{eid}")
            if response.status_code == 404:
                return eid, None
            if response.status_code != 200:
                raise parse_error(response)
            return eid, str(response.json()["id"])

        with ThreadPoolExecutor(max_workers=self.max_in_flight) as pool:
            found = dict(pool.map(one, external_ids))
        return {k: v for k, v in found.items() if v is not None}
