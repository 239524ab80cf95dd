"""Land ERP tables into `raw.erp__<table>` through SuiteQL.

Contract:
- Tables and how each is read: `extractors.erp.tables.TABLES`.
- Incremental tables: `lastmodifieddate >= cursor - overlap` (24 h by default: late commits,
  see `DEFAULT_OVERLAP`), ordered by it then the key; each
  page lands with the cursor set to the largest stamp landed so far, in the same transaction.
  The cursor never passes a quarantined row, so the next run reads it again.
- Reference tables are re-read in full each run; the landing stores only rows whose payload
  changed, so an unchanged table lands nothing.
- A row that will not normalize goes to `ops.quarantine` (reason + the raw item JSON), is
  counted, and the run goes on; auth and schema failures raise `extractors.errors` classes.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from extractors.base import Extractor
from extractors.erp.normalize import RecordInvalid, normalize_record, normalize_value
from extractors.erp.suiteql import PageWindow, SuiteQLClient
from extractors.erp.tables import LINE_STAMP, TABLES, TableSpec, build_query, object_id
from extractors.errors import SystematicError
from extractors.result import ExtractResult
from q2c.landing import RawRecord, get_cursor, land_page, quarantine
from q2c.warehouse import Warehouse

log = logging.getLogger(__name__)

SOURCE = "erp"
#: NetSuite stamps `lastmodifieddate` when an edit starts, not when it commits, so a change can
#: appear stamped well before rows already read. SuiteQL reads are not metered like Salesforce's
#: daily allocation, so the incremental simply re-reads the last day; the landing drops what it
#: already holds, and an edit that commits less than a day late is never missed.
DEFAULT_OVERLAP = timedelta(hours=24)


def parse_stamp(text: str) -> datetime:
    """An ERP timestamp (`YYYY-MM-DDTHH:MM:SSZ`) as an aware UTC datetime."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def overlap_start(cursor: str | None, overlap: timedelta = DEFAULT_OVERLAP) -> datetime | None:
    """The inclusive lower bound of the next incremental read, or None for a full read."""
    return parse_stamp(cursor) - overlap if cursor else None


def to_raw_records(
    spec: TableSpec, items: Sequence[Mapping[str, Any]]
) -> tuple[list[RawRecord], list[tuple[str, str]], int]:
    """Normalize SuiteQL items of `spec` into `RawRecord`s.

    Returns:
        `(good, bad, clean)`: records to land, `(reason, raw JSON)` to quarantine, and how many
        good records came before the first bad one.
    """
    good: list[RawRecord] = []
    bad: list[tuple[str, str]] = []
    clean = -1
    for item in items:
        try:
            row = dict(item)
            stamp: str | None = None
            if spec.name == "transactionline":
                stamp = normalize_value("lastmodifieddate", row.pop(LINE_STAMP, None))
            payload = normalize_record(row, spec.columns)
            if spec.modified and spec.name != "transactionline":
                stamp = payload.get(spec.modified)
            if spec.incremental and stamp is None:
                raise RecordInvalid(f"column {spec.modified}: missing")
        except (RecordInvalid, ValueError) as exc:
            bad.append((str(exc), json.dumps(dict(item), default=str, ensure_ascii=False)))
            if clean < 0:
                clean = len(good)
            continue
        good.append(RawRecord(object_id(spec, payload), stamp, payload))
    return good, bad, (len(good) if clean < 0 else clean)


def _max(current: str | None, stamps: Sequence[str | None]) -> str | None:
    # the stamps share one fixed-width UTC format, so text order is time order
    values = [s for s in stamps if s] + ([current] if current else [])
    return max(values) if values else None


class ErpExtractor(Extractor):
    """Extracts ERP tables into the warehouse.

    Args:
        client: a `SuiteQLClient`.
        wh: the warehouse.
        run_id: the Dagster run id (or `manual-...`).
        overlap: how far before the cursor incremental reads start.
    """

    def __init__(
        self,
        client: SuiteQLClient,
        wh: Warehouse,
        *,
        run_id: str,
        overlap: timedelta = DEFAULT_OVERLAP,
    ) -> None:
        self.client = client
        self.wh = wh
        self.run_id = run_id
        self.overlap = overlap

    def _land(
        self, result: ExtractResult, spec: TableSpec, items: Sequence[Any]
    ) -> list[RawRecord]:
        good, bad, clean = to_raw_records(spec, items)
        for reason, raw in bad:
            quarantine(self.wh, SOURCE, spec.name, reason, raw, run_id=self.run_id)
            result.quarantine_reasons.append(reason)
        cursor = None
        if spec.incremental and not result.cursor_held:
            top = _max(result.cursor_after, [r.provider_ref for r in good[:clean]])
            result.cursor_held = bool(bad)
            if top != result.cursor_after:
                cursor = result.cursor_after = top
        landed = land_page(self.wh, SOURCE, spec.name, good, run_id=self.run_id, cursor=cursor)
        result.rows_read += len(items)
        result.landed += landed.landed
        result.duplicates += landed.duplicates
        result.quarantined += len(bad)
        result.pages += 1
        return good

    def extract(self, table: str) -> ExtractResult:
        """Extract one table (incremental or full, per `TABLES`).

        Raises:
            KeyError: the table is not one `TABLES` knows.
            SystematicError: auth or schema failures, or a window that cannot advance.
        """
        spec = TABLES[table]
        started = time.monotonic()
        requests_before = self.client.requests_made
        result = ExtractResult(SOURCE, table, mode="incremental" if spec.incremental else "full")
        if spec.incremental:
            result.cursor_before = result.cursor_after = get_cursor(self.wh, SOURCE, table)
        since = overlap_start(result.cursor_before, self.overlap)
        min_id: int | None = None
        while True:
            sql = build_query(spec, since=since, min_id=min_id)
            window = PageWindow()
            last_key: Any = None
            result.queries += 1
            for items in self.client.query_pages(sql, window):
                good = self._land(result, spec, items)
                if good:
                    last = good[-1]
                    last_key = (
                        last.provider_ref
                        if spec.incremental
                        else int(last.payload[spec.columns[0]] or 0)
                    )
            if not window.exhausted:
                break
            # 100,000 rows of one query read: restart from the last key seen (inclusive)
            if spec.incremental:
                restart = parse_stamp(last_key)
                if since is not None and restart <= since:
                    raise SystematicError(
                        f"{table}: over 100,000 rows share one lastmodifieddate",
                        source=SOURCE,
                        hint="read this table in narrower id ranges",
                    )
                since = restart
            else:
                if min_id is not None and last_key <= min_id:
                    raise SystematicError(
                        f"{table}: the id keyset did not advance", source=SOURCE, hint="report it"
                    )
                min_id = last_key
        result.duration_s = round(time.monotonic() - started, 3)
        result.api_requests = self.client.requests_made - requests_before
        result.retries = self.client.retries
        log.info(
            "erp %s: %s read %d, landed %d, duplicates %d, quarantined %d",
            table,
            result.mode,
            result.rows_read,
            result.landed,
            result.duplicates,
            result.quarantined,
        )
        return result
