"""Land Salesforce objects into `raw.salesforce__<object>`: incremental, large pulls and backfills.

Contract:
- Objects: `configured_objects()`: what the ownership contract (policy/ownership.yml) maps to
  the Salesforce systems, else Account, Contact, Opportunity, Case, User.
- Fields: every selectable field from `describe`, read at each run, so a new custom field shows
  up without a code change.
- Incremental (`SalesforceExtractor.extract`): REST `queryAll` (deleted rows included) with
  `WHERE SystemModstamp >= cursor - overlap ORDER BY SystemModstamp, Id`; each page is landed
  with the cursor set to the largest `SystemModstamp` landed so far, in the same transaction,
  so a crash leaves the cursor where the data is. The landing drops re-read rows whose payload
  hash it already holds, so the overlap costs API rows, never duplicates.
- Late commits: a change committed after later-stamped rows were served, and stamped before
  `cursor - overlap`, is past what the timestamp filter can see. After the incremental, a sweep
  reads only `Id, SystemModstamp` from `late_lookback` (default 24 h) before the window this
  run read (everything on a first REST run; a first run that went Bulk starts sweeping with
  the next run), compares the pairs with the `(object_id, provider_ref)` pairs landed, and
  fetches the missing versions by Id. A commit stamped earlier than that is the documented
  limit: the monthly Bulk backfill job catches it.
- Large pulls: when the first page's `totalSize` exceeds `bulk_threshold` (or the query is too
  long for a GET), the same filter runs as a Bulk API 2.0 `queryAll` job streamed to disk; the
  cursor is set with the job's last chunk (Bulk rows come in no promised order).
- Backfill (`SalesforceExtractor.backfill`): a Bulk `queryAll` of one `SystemModstamp` window
  `[start, end)`; it lands rows (de-duplicated) and leaves the incremental cursor alone, so
  windows can be run in any order and rerun.
- Each landed row: `object_id` = `Id`, `provider_ref` = `SystemModstamp`, `is_deleted` =
  `IsDeleted`, `payload` = `normalize_record()` (see normalize.py).
- A record that will not normalize goes to `ops.quarantine` with the reason and the raw record,
  is counted, and the run goes on; the cursor stops short of it, so the next run reads it
  again. Auth, API budget and schema failures raise `SalesforceExtractError` subclasses
  (`extractors.errors.SystematicError`) whose message says what to do.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from extractors.base import Extractor
from extractors.result import ExtractResult
from extractors.salesforce.bulk import DEFAULT_CHUNK_ROWS, DEFAULT_PAGE_ROWS, BulkQuery
from extractors.salesforce.client import SalesforceClient
from extractors.salesforce.errors import RecordInvalid
from extractors.salesforce.normalize import (
    FieldSpec,
    field_specs,
    format_datetime,
    normalize_datetime,
    normalize_record,
    selectable_fields,
)
from extractors.salesforce.soql import (
    DEFAULT_OVERLAP,
    MAX_REST_QUERY_CHARS,
    build_id_query,
    build_query,
    max_stamp,
    overlap_start,
)
from q2c.landing import RawRecord, ensure_raw_table, get_cursor, land_page, quarantine
from q2c.warehouse import Warehouse

log = logging.getLogger(__name__)

SOURCE = "salesforce"
DEFAULT_OBJECTS = ("Account", "Contact", "Opportunity", "Case", "User")
DEFAULT_BULK_THRESHOLD = 10_000
#: The late-change sweep compares the last day of Ids and stamps with what landed.
DEFAULT_LATE_LOOKBACK = timedelta(hours=24)
#: Ids per `WHERE Id IN (...)` fetch: 200 x 21 characters keeps the URI far below 16 KB.
ID_CHUNK = 200


def configured_objects(policy_path: Path | None = None) -> list[str]:
    """The Salesforce objects to extract, from the ownership contract.

    Every object an entity names under a system whose `source` is `salesforce` (the CRM and the
    support desk), in the contract's order, e.g. `objects: {crm: Account}`.

    Args:
        policy_path: the contract (default: `Q2C_POLICY_FILE` or policy/ownership.yml).

    Returns:
        Object API names; the five defaults when there is no contract or it names none, or when
        it does not validate (`q2c policy check` reports that; ingestion keeps going).
    """
    from q2c.policy.loader import contract_path, load_contract

    path = policy_path or contract_path()
    if not path.is_file():
        return list(DEFAULT_OBJECTS)
    try:
        contract = load_contract(path)
    except Exception as exc:  # a broken contract must not stop ingestion; policy check says why
        log.warning("salesforce objects: contract %s did not load (%s); using defaults", path, exc)
        return list(DEFAULT_OBJECTS)
    systems = {name for name, system in contract.systems.items() if system.source == SOURCE}
    objects: list[str] = []
    for entity in contract.entities.values():
        for system, value in entity.objects.items():
            if system not in systems:
                continue
            for name in [value] if isinstance(value, str) else value:
                name = name.split("(")[0].strip()  # `transaction(type=...)` style filters
                if name and name not in objects:
                    objects.append(name)
    return objects or list(DEFAULT_OBJECTS)


def table_name(sobject: str) -> str:
    """The landing object name of an sObject: `Account` -> `account` (`raw.salesforce__account`)."""
    return sobject.lower()


def to_raw_records(
    records: Iterable[Mapping[str, Any]], specs: Mapping[str, FieldSpec]
) -> tuple[list[RawRecord], list[tuple[str, str]], int]:
    """Normalize records into `RawRecord`s; the ones that fail come back as `(reason, raw)`.

    Args:
        records: REST records or Bulk CSV rows of one object.
        specs: the object's field specs.

    Returns:
        `(good, bad, clean)`: the records to land, `(reason, raw JSON)` pairs to quarantine,
        and how many of `good` came before the first bad record (all of them if none failed).
    """
    good: list[RawRecord] = []
    bad: list[tuple[str, str]] = []
    clean = -1
    for record in records:
        try:
            payload = normalize_record(record, specs)
        except RecordInvalid as exc:
            raw = json.dumps(dict(record), default=str, ensure_ascii=False)
            bad.append((str(exc), raw))
            if clean < 0:
                clean = len(good)
            continue
        good.append(
            RawRecord(
                object_id=str(payload["Id"]),
                provider_ref=payload.get("SystemModstamp"),
                payload=payload,
                is_deleted=payload.get("IsDeleted") is True,
            )
        )
    return good, bad, (len(good) if clean < 0 else clean)


class SalesforceExtractor(Extractor):
    """Extracts Salesforce objects into the warehouse.

    Args:
        client: a `SalesforceClient`.
        wh: the warehouse.
        run_id: the Dagster run id (or `manual-...`), stored with every row.
        overlap: how far before the cursor the incremental re-reads.
        bulk_threshold: above this many rows an incremental pull switches to Bulk API 2.0.
        workdir: where Bulk results pages are written (a temp dir by default).
        page_rows: Bulk `maxRecords` per results page.
        chunk_rows: rows per landed chunk when reading Bulk pages back.
        late_lookback: how far before the cursor the late-change sweep compares Ids and stamps
            with what landed (None turns the sweep off).
        rest_batch_size: REST page size hint (200..2,000; Salesforce's default is 2,000).
    """

    def __init__(
        self,
        client: SalesforceClient,
        wh: Warehouse,
        *,
        run_id: str,
        overlap: timedelta = DEFAULT_OVERLAP,
        bulk_threshold: int = DEFAULT_BULK_THRESHOLD,
        workdir: Path | None = None,
        page_rows: int = DEFAULT_PAGE_ROWS,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        late_lookback: timedelta | None = DEFAULT_LATE_LOOKBACK,
        rest_batch_size: int | None = None,
    ) -> None:
        self.client = client
        self.wh = wh
        self.run_id = run_id
        self.overlap = overlap
        self.bulk_threshold = bulk_threshold
        self.workdir = workdir
        self.page_rows = page_rows
        self.chunk_rows = chunk_rows
        self.late_lookback = late_lookback
        self.rest_batch_size = rest_batch_size
        self._specs: dict[str, dict[str, FieldSpec]] = {}

    # -- helpers ---------------------------------------------------------------------------

    def specs(self, sobject: str) -> dict[str, FieldSpec]:
        """Field specs of `sobject` from `describe` (once per extractor)."""
        if sobject not in self._specs:
            self._specs[sobject] = field_specs(self.client.describe(sobject))
        return self._specs[sobject]

    def _land(
        self,
        result: ExtractResult,
        records: Sequence[Mapping[str, Any]],
        specs: Mapping[str, FieldSpec],
        *,
        running: str | None,
        write_cursor: bool,
    ) -> str | None:
        """Land one page of records.

        Args:
            result: the figures to add to.
            records: raw records of the page.
            specs: the object's field specs.
            running: the largest `SystemModstamp` landed so far (or the stored cursor).
            write_cursor: store max(running, this page's stamps) as the cursor in the same
                transaction as the rows.

        Returns:
            max(running, the stamps of the records landed from this page).
        """
        good, bad, clean = to_raw_records(records, specs)
        name = result.name
        for reason, raw in bad:
            quarantine(self.wh, SOURCE, name, reason, raw, run_id=self.run_id)
            result.quarantine_reasons.append(reason)
        top = running
        if not result.cursor_held:
            # rows come ordered by stamp: the cursor may pass the rows before the first
            # quarantined one, never that one, so the next run reads it again
            top = max_stamp(running, [r.provider_ref for r in good[:clean]])
            result.cursor_held = bool(bad)
        landed = land_page(
            self.wh,
            SOURCE,
            name,
            good,
            run_id=self.run_id,
            cursor=top if write_cursor else None,
        )
        result.rows_read += len(records)
        result.landed += landed.landed
        result.duplicates += landed.duplicates
        result.quarantined += len(bad)
        result.deleted += sum(1 for r in good if r.is_deleted)
        return top

    def _finish(self, result: ExtractResult, started: float, requests_before: int) -> None:
        result.duration_s = round(time.monotonic() - started, 3)
        result.api_requests = self.client.requests_made - requests_before
        result.api_calls_used = self.client.api_calls_used
        usage = self.client.usage
        result.api_usage = f"{usage.used}/{usage.total}" if usage else None
        result.retries = self.client.retries
        result.relogins = self.client.relogins

    def _bulk_chunks(self, soql: str, what: str) -> Iterator[list[dict[str, str]]]:
        workdir = self.workdir
        if workdir is None:
            with tempfile.TemporaryDirectory(prefix="q2c-sf-bulk-") as tmp:
                job = BulkQuery(self.client, soql, Path(tmp), page_rows=self.page_rows, what=what)
                yield from job.chunks(self.chunk_rows)
        else:
            job = BulkQuery(self.client, soql, workdir, page_rows=self.page_rows, what=what)
            yield from job.chunks(self.chunk_rows)

    def _land_bulk(
        self,
        result: ExtractResult,
        soql: str,
        specs: Mapping[str, FieldSpec],
        *,
        cursor: str | None,
        advance: bool,
    ) -> str | None:
        """Land a Bulk job chunk by chunk; with `advance`, the cursor moves with the last chunk."""
        result.mode = "bulk"
        top = cursor
        pending: list[dict[str, str]] | None = None
        for chunk in self._bulk_chunks(soql, f"bulk queryAll {result.name}"):
            if pending is not None:
                # not the last chunk: land its rows, leave the stored cursor alone
                top = self._land(result, pending, specs, running=top, write_cursor=False)
                result.pages += 1
            pending = chunk
        if pending is not None:
            # the job's largest stamp over every chunk is stored with the last chunk; Bulk rows
            # are unordered, so one quarantined row anywhere keeps the cursor where it was
            last = self._land(result, pending, specs, running=top, write_cursor=False)
            top = cursor if result.cursor_held else last
            if advance and top != cursor:
                land_page(self.wh, SOURCE, result.name, [], run_id=self.run_id, cursor=top)
            result.pages += 1
        return top if advance else cursor

    # -- public ----------------------------------------------------------------------------

    def extract(self, sobject: str, *, force_bulk: bool = False) -> ExtractResult:
        """Incremental extract of one object (REST, or Bulk for large pulls).

        Args:
            sobject: the object's API name.
            force_bulk: use Bulk API 2.0 whatever the size.

        Returns:
            The figures of this extract.
        """
        started = time.monotonic()
        requests_before = self.client.requests_made
        result = ExtractResult(SOURCE, table_name(sobject), mode="rest")
        name = table_name(sobject)
        result.cursor_before = get_cursor(self.wh, SOURCE, name)
        specs = self.specs(sobject)
        fields = selectable_fields(specs)
        since = overlap_start(result.cursor_before, self.overlap)
        soql = build_query(sobject, fields, since=since)
        cursor = result.cursor_before
        use_bulk = force_bulk or len(soql) > MAX_REST_QUERY_CHARS
        if not use_bulk:
            pages = self.client.query_pages(
                soql, what=f"queryAll {sobject}", batch_size=self.rest_batch_size
            )
            first = next(pages)
            if int(first.get("totalSize", 0)) > self.bulk_threshold:
                pages.close()  # the REST cursor simply expires on Salesforce's side
                use_bulk = True
            else:
                for page in _chain_first(first, pages):
                    cursor = self._land(
                        result, page["records"], specs, running=cursor, write_cursor=True
                    )
                    result.pages += 1
        if use_bulk:
            bulk_soql = build_query(sobject, fields, since=since, order=False)
            cursor = self._land_bulk(result, bulk_soql, specs, cursor=cursor, advance=True)
        result.cursor_after = cursor
        # a first run that went Bulk read a snapshot too big to hold Ids of in memory: the
        # sweep starts with the next (bounded) run
        bounded = since is not None or result.mode == "rest"
        if self.late_lookback is not None and cursor and bounded:
            # the window this run read (from cursor_before - overlap), plus the lookback before
            # it; the first run compares everything it read
            sweep_from = None if since is None else since - self.late_lookback
            self._sweep_late(sobject, result, specs, fields, sweep_from)
        self._finish(result, started, requests_before)
        log.info(
            "salesforce %s: %s read %d, landed %d, duplicates %d, quarantined %d",
            sobject,
            result.mode,
            result.rows_read,
            result.landed,
            result.duplicates,
            result.quarantined,
        )
        return result

    def _sweep_late(
        self,
        sobject: str,
        result: ExtractResult,
        specs: Mapping[str, FieldSpec],
        fields: Sequence[str],
        since: datetime | None,
    ) -> None:
        """Find and land versions stamped `>= since` (all if None) the warehouse does not hold.

        A change committed late, stamped before `cursor - overlap`, is invisible to the
        incremental filter. This pass reads only `Id, SystemModstamp` of the lookback window
        (one cheap queryAll), compares the pairs with the `(object_id, provider_ref)` pairs
        landed, and fetches the missing versions by Id. It never moves the cursor.
        """
        table = ensure_raw_table(self.wh, SOURCE, table_name(sobject))
        remote: dict[str, str] = {}
        soql = build_query(sobject, ["Id", "SystemModstamp"], since=since)
        for page in self.client.query_pages(soql, what=f"late-change sweep {sobject}"):
            for rec in page["records"]:
                try:
                    remote[str(rec["Id"])] = normalize_datetime(rec["SystemModstamp"])
                except (KeyError, TypeError, ValueError):
                    continue  # an unreadable stamp: the full fetch below decides
        if not remote:
            return
        floor = format_datetime(since) if since is not None else ""
        landed = {
            (oid, ref)
            for oid, ref in self.wh.fetchall(
                f"select object_id, provider_ref from {table} where provider_ref >= ?", [floor]
            )
        }
        missing = sorted(i for i, stamp in remote.items() if (i, stamp) not in landed)
        result.late_found = len(missing)
        for start in range(0, len(missing), ID_CHUNK):
            ids = missing[start : start + ID_CHUNK]
            soql = build_id_query(sobject, fields, ids)
            for page in self.client.query_pages(soql, what=f"late-change fetch {sobject}"):
                self._land(result, page["records"], specs, running=None, write_cursor=False)
                result.pages += 1
        if missing:
            log.info("salesforce %s: %d late-committed versions landed", sobject, len(missing))

    def backfill(self, sobject: str, start: datetime, end: datetime) -> ExtractResult:
        """Bulk API 2.0 re-read of the rows with `start <= SystemModstamp < end`.

        Lands what the warehouse does not hold yet and leaves the incremental cursor alone.
        """
        started = time.monotonic()
        requests_before = self.client.requests_made
        result = ExtractResult(SOURCE, table_name(sobject), mode="bulk")
        name = table_name(sobject)
        result.cursor_before = result.cursor_after = get_cursor(self.wh, SOURCE, name)
        result.window = f"[{start.isoformat()}, {end.isoformat()})"
        specs = self.specs(sobject)
        soql = build_query(sobject, selectable_fields(specs), since=start, until=end, order=False)
        self._land_bulk(result, soql, specs, cursor=None, advance=False)
        self._finish(result, started, requests_before)
        return result


def _chain_first(first: dict[str, Any], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield first
    yield from rest
