"""The one result shape of every extractor, and the one way it becomes run metadata.

Contract:
- `ExtractResult(source, name, mode)`: what one extract of one object (a billing object with
  its children, a Salesforce object, an ERP table, or the billing change log) did. Counts live
  per raw table in `tables` (`TableStats`: landed, duplicates, quarantined, tombstones);
  `landed`, `duplicates` and `quarantined` are their totals, and adding to them (`result.landed
  += n`) counts into the result's own table `name`.
- The other fields are the extract's figures: rows read, pages, API requests and retries,
  cursors before and after (and whether the cursor was held at a quarantined record), duration,
  whether the listing completed, and what only some sources report (Salesforce's API usage and
  re-logins, deletions seen, late versions found; the billing change log's events and re-reads).
- `metadata(table=None)`: the Dagster materialization metadata of the whole extract, or of one
  of its raw tables (counts of that table, the extract's other figures). Plain values (ints,
  floats, strings, a dict), counts and cursors only: never a record value (no PII).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from q2c.masking import MaskContext, mask_text


@dataclass
class TableStats:
    """What landed in one raw table during one extract."""

    landed: int = 0
    duplicates: int = 0
    quarantined: int = 0
    tombstones: int = 0

    @property
    def seen(self) -> int:
        return self.landed + self.duplicates


@dataclass
class ExtractResult:
    """The outcome of one extract (see the module doc)."""

    source: str
    name: str
    mode: str = "incremental"
    tables: dict[str, TableStats] = field(default_factory=dict)
    rows_read: int = 0
    pages: int = 0
    queries: int = 0
    api_requests: int = 0
    retries: int = 0
    relogins: int = 0
    deleted: int = 0
    late_found: int = 0
    events_processed: int = 0
    objects_reread: int = 0
    reread_skipped: int = 0
    cursor_before: str | None = None
    cursor_after: str | None = None
    cursor_held: bool = False
    window: str | None = None
    complete: bool = True
    api_calls_used: int | None = None
    api_usage: str | None = None
    duration_s: float = 0.0
    quarantine_reasons: list[str] = field(default_factory=list)

    def table(self, name: str) -> TableStats:
        """The counts of raw table `name` (created empty on first use)."""
        return self.tables.setdefault(name, TableStats())

    def _total(self, attr: str) -> int:
        return sum(getattr(t, attr) for t in self.tables.values())

    def _add_to_own(self, attr: str, value: int) -> None:
        own = self.table(self.name)
        setattr(own, attr, getattr(own, attr) + value - self._total(attr))

    @property
    def landed(self) -> int:
        return self._total("landed")

    @landed.setter
    def landed(self, value: int) -> None:
        self._add_to_own("landed", value)

    @property
    def duplicates(self) -> int:
        return self._total("duplicates")

    @duplicates.setter
    def duplicates(self, value: int) -> None:
        self._add_to_own("duplicates", value)

    @property
    def quarantined(self) -> int:
        return self._total("quarantined")

    @quarantined.setter
    def quarantined(self, value: int) -> None:
        self._add_to_own("quarantined", value)

    @property
    def tombstones(self) -> int:
        return self._total("tombstones")

    def metadata(self, table: str | None = None) -> dict[str, Any]:
        """Materialization metadata of the extract, or of its raw table `table`."""
        counts = (
            self.table(table)
            if table is not None
            else TableStats(self.landed, self.duplicates, self.quarantined, self.tombstones)
        )
        meta: dict[str, Any] = {
            "table": f"raw.{self.source}__{table or self.name}",
            "mode": self.mode,
            "rows_landed": counts.landed,
            "duplicates": counts.duplicates,
            "quarantined": counts.quarantined,
            "tombstones": counts.tombstones,
            "rows_read": self.rows_read,
            "pages": self.pages,
            "api_requests": self.api_requests,
            "retries": self.retries,
            "relogins": self.relogins,
            "deleted_seen": self.deleted,
            "late_versions_found": self.late_found,
            "cursor_before": self.cursor_before or "",
            "cursor_after": self.cursor_after or "",
            "cursor_held_at_quarantine": self.cursor_held,
            "complete": self.complete,
            "duration_s": round(self.duration_s, 3),
        }
        if self.events_processed or self.objects_reread or self.reread_skipped:
            meta["events_processed"] = self.events_processed
            meta["objects_reread"] = self.objects_reread
            meta["reread_skipped_before_first_listing"] = self.reread_skipped
        if len(self.tables) > 1:
            meta["landed_by_table"] = {n: t.landed for n, t in sorted(self.tables.items())}
        if self.api_calls_used is not None:
            meta["api_calls_used"] = self.api_calls_used
        if self.api_usage:
            meta["api_usage"] = self.api_usage
        if self.window:
            meta["window"] = self.window
        if self.quarantine_reasons:
            reasons = "; ".join(sorted(set(self.quarantine_reasons))[:10])
            meta["quarantine_reasons"] = mask_text(reasons, MaskContext("dagster_metadata"))
        return meta
