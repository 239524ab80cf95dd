"""Bulk API 2.0 `queryAll` jobs, streamed to disk page by page and read back in chunks.

Protocol (https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/query_create_job.htm):
`POST /services/data/vXX.X/jobs/query` with `{"operation": "queryAll", "query": ...}` creates a
job; `GET .../jobs/query/<id>` until `state` is `JobComplete` (`Failed`/`Aborted` end it);
`GET .../jobs/query/<id>/results?maxRecords=N&locator=L` answers one page of CSV with headers
`Sforce-Locator` (the string `null` on the last page) and `Sforce-NumberOfRecords`.

Why direct HTTP and not `sf.bulk2.<Object>.download()`: that method creates `query` jobs, not
`queryAll` (deleted rows would be missed), and hides the response headers we need for the API
budget. We still go through simple-salesforce's session, URLs and `call_salesforce` (the same
exception types), and every request through `SalesforceClient.call()` (retries, re-login, budget).

Memory stays flat: each results page is written to a file in 1 MiB chunks, counted against
`Sforce-NumberOfRecords` (a short page is re-downloaded: the same locator may be read again while
the job exists), then read back with `csv.DictReader` in chunks of `chunk_rows` and deleted.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simple_salesforce import Salesforce
from simple_salesforce.util import call_salesforce

from extractors.salesforce.client import DEFAULT_TIMEOUT, SalesforceClient
from extractors.salesforce.errors import SalesforceQueryError

log = logging.getLogger(__name__)

#: simple-salesforce's default page size for Bulk 2.0 results.
DEFAULT_PAGE_ROWS = 50_000
DEFAULT_CHUNK_ROWS = 5_000
_DOWNLOAD_CHUNK = 1 << 20
# Long Text Area fields hold up to 131,072 characters, the csv module's default cell limit
csv.field_size_limit(max(csv.field_size_limit(), 1 << 24))


class ShortPage(ConnectionError):
    """A results page had fewer rows than `Sforce-NumberOfRecords` said: download it again."""


@dataclass
class BulkJobStats:
    """What one Bulk job cost and returned."""

    job_id: str = ""
    pages: int = 0
    rows: int = 0
    bytes: int = 0


def _headers(sf: Salesforce, accept: str = "application/json") -> dict[str, str]:
    return {
        "Authorization": f"Bearer {sf.session_id}",
        "Content-Type": "application/json",
        "Accept": accept,
    }


def _record_usage(client: SalesforceClient, headers: Any) -> None:
    info = headers.get("Sforce-Limit-Info")
    if info:
        usage = Salesforce.parse_api_usage(info).get("api-usage")
        client.record_usage(usage)  # type: ignore[arg-type]


def count_csv_rows(path: Path) -> int:
    """Records in a CSV file (quoted newlines are part of a record, not a new one)."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        return sum(1 for _ in reader)


def read_csv_chunks(path: Path, chunk_rows: int) -> Iterator[list[dict[str, str]]]:
    """Rows of a Bulk CSV file as dicts, `chunk_rows` at a time.

    Args:
        path: a results page written by `download_page`.
        chunk_rows: rows per chunk.

    Yields:
        Lists of at most `chunk_rows` rows, header names as keys, values as the CSV strings.
    """
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        chunk: list[dict[str, str]] = []
        for row in reader:
            chunk.append(row)
            if len(chunk) >= chunk_rows:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


class BulkQuery:
    """One Bulk API 2.0 `queryAll` job.

    Args:
        client: the connection (retries, re-login, budget).
        soql: the query (no ORDER BY needed; Bulk rejects aggregates and OFFSET).
        workdir: where result pages are written (one file at a time).
        page_rows: `maxRecords` per results page.
        poll_max: the longest pause between status polls, in seconds.
        timeout: how long the job may take before the extract gives up, in seconds.
    """

    def __init__(
        self,
        client: SalesforceClient,
        soql: str,
        workdir: Path,
        *,
        page_rows: int = DEFAULT_PAGE_ROWS,
        poll_max: float = 2.0,
        timeout: float = 3600.0,
        what: str = "bulk query",
    ) -> None:
        self.client = client
        self.soql = soql
        self.workdir = workdir
        self.page_rows = page_rows
        self.poll_max = poll_max
        self.timeout = timeout
        self.what = what
        self.stats = BulkJobStats()

    def _jobs_url(self, sf: Salesforce) -> str:
        return f"{sf.bulk2_url}query"

    def create(self) -> str:
        """Create the job; returns its id."""
        payload = json.dumps(
            {
                "operation": "queryAll",
                "query": self.soql,
                "contentType": "CSV",
                "columnDelimiter": "COMMA",
                "lineEnding": "LF",
            }
        )

        def post(sf: Salesforce) -> dict[str, Any]:
            response = call_salesforce(
                url=self._jobs_url(sf),
                method="POST",
                session=sf.session,
                headers=_headers(sf),
                data=payload,
                timeout=DEFAULT_TIMEOUT,
            )
            _record_usage(self.client, response.headers)
            return response.json()

        job = self.client.call(f"{self.what}: create job", post)
        self.stats.job_id = str(job["id"])
        return self.stats.job_id

    def wait(self, job_id: str) -> dict[str, Any]:
        """Poll until the job is complete; returns the final job JSON.

        Raises:
            SalesforceQueryError: the job failed, was aborted or outlasted `timeout`.
        """
        deadline = time.monotonic() + self.timeout
        pause = 0.05
        while True:

            def get(sf: Salesforce) -> dict[str, Any]:
                response = call_salesforce(
                    url=f"{self._jobs_url(sf)}/{job_id}",
                    method="GET",
                    session=sf.session,
                    headers=_headers(sf),
                    timeout=DEFAULT_TIMEOUT,
                )
                _record_usage(self.client, response.headers)
                return response.json()

            job = self.client.call(f"{self.what}: job status", get)
            state = job.get("state")
            if state == "JobComplete":
                return job
            if state in ("Failed", "Aborted"):
                raise SalesforceQueryError(
                    f"{self.what}: Bulk job {job_id} ended {state} "
                    f"({str(job.get('errorMessage') or 'no message')[:300]})",
                    "check the query and the integration user's access, then rerun",
                )
            if time.monotonic() > deadline:
                raise SalesforceQueryError(
                    f"{self.what}: Bulk job {job_id} still {state} after {self.timeout:.0f} s",
                    "Salesforce may be busy; rerun later (landed rows are kept)",
                )
            time.sleep(pause)
            pause = min(self.poll_max, pause * 2)

    def download_page(self, job_id: str, locator: str | None) -> tuple[Path, int, str | None]:
        """Stream one results page to a file.

        Returns:
            `(path, rows, next_locator)`; `next_locator` is None after the last page.
        """

        def get(sf: Salesforce) -> tuple[Path, int, str | None]:
            params: dict[str, Any] = {"maxRecords": self.page_rows}
            if locator:
                params["locator"] = locator
            fd, name = tempfile.mkstemp(suffix=".csv", dir=self.workdir)
            path = Path(name)
            try:
                with (
                    closing(
                        call_salesforce(
                            url=f"{self._jobs_url(sf)}/{job_id}/results",
                            method="GET",
                            session=sf.session,
                            headers=_headers(sf, accept="text/csv"),
                            params=params,
                            stream=True,
                            timeout=DEFAULT_TIMEOUT,
                        )
                    ) as response,
                    os.fdopen(fd, "wb") as out,
                ):
                    _record_usage(self.client, response.headers)
                    expected = int(response.headers.get("Sforce-NumberOfRecords", "-1"))
                    next_locator = response.headers.get("Sforce-Locator") or None
                    for block in response.iter_content(chunk_size=_DOWNLOAD_CHUNK):
                        # NUL bytes break the csv module; Salesforce never means them as data
                        out.write(block.replace(b"\x00", b""))
                        self.stats.bytes += len(block)
                rows = count_csv_rows(path)
                if expected >= 0 and rows != expected:
                    raise ShortPage(
                        f"results page had {rows} rows, Sforce-NumberOfRecords said {expected}"
                    )
            except BaseException:
                path.unlink(missing_ok=True)
                raise
            if next_locator == "null":
                next_locator = None
            return path, rows, next_locator

        return self.client.call(f"{self.what}: results", get)

    def delete(self, job_id: str) -> None:
        """Delete the finished job (frees the org's job storage); failures only log."""
        try:
            self.client.call(
                f"{self.what}: delete job",
                lambda sf: call_salesforce(
                    url=f"{self._jobs_url(sf)}/{job_id}",
                    method="DELETE",
                    session=sf.session,
                    headers=_headers(sf),
                    timeout=DEFAULT_TIMEOUT,
                ),
            )
        except Exception as exc:  # the rows are landed; a leftover job expires on its own
            log.warning("salesforce %s: could not delete job %s: %s", self.what, job_id, exc)

    def chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[list[dict[str, str]]]:
        """Run the job and yield its rows in chunks, one results page on disk at a time."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        job_id = self.create()
        self.wait(job_id)
        locator: str | None = None
        while True:
            path, rows, locator = self.download_page(job_id, locator)
            self.stats.pages += 1
            self.stats.rows += rows
            try:
                yield from read_csv_chunks(path, chunk_rows)
            finally:
                path.unlink(missing_ok=True)
            if not locator:
                break
        self.delete(job_id)
