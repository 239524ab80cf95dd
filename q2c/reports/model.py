"""The report's shape: sections of typed columns and rows, charts, and the header.

A section is a table finance reads (one sheet of the workbook, one block of the HTML page).
Its `status` says whether the warehouse had something to say: `ok` (rows), `none` (the table is
there and holds nothing for the period: "none recorded") or `unavailable` (the table is not in
this warehouse: "not available in this warehouse"). The report never fills a gap with a number.
Money columns hold `Decimal` major units; `currency_key` names the row's currency column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

ColumnKind = Literal["text", "int", "money", "decimal", "datetime", "bool"]
SectionStatus = Literal["ok", "none", "unavailable"]

NONE_RECORDED = "none recorded"
NOT_AVAILABLE = "not available in this warehouse"


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: ColumnKind = "text"
    #: for money columns: the key of the row's currency column
    currency_key: str = "currency"


@dataclass
class Section:
    key: str
    title: str
    description: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)
    status: SectionStatus = "ok"
    #: why a section is empty or unavailable, or a caveat finance must read with it
    note: str = ""
    #: the warehouse tables this section reads
    sources: tuple[str, ...] = ()
    #: text written by q2c itself under a no-row-values contract (gate reasons): not scrubbed,
    #: since the scrub's account-number pattern would hide the counts and amounts it states
    q2c_text: bool = False

    @property
    def message(self) -> str:
        """What the page shows instead of an empty table."""
        base = {"ok": "", "none": NONE_RECORDED, "unavailable": NOT_AVAILABLE}[self.status]
        return f"{base}: {self.note}" if base and self.note else base


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    svg: str


@dataclass
class Report:
    header: dict[str, Any]
    sections: list[Section]
    charts: list[Chart] = field(default_factory=list)

    def section(self, key: str) -> Section:
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(key)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready: Decimals as strings (exact), datetimes as ISO text."""
        return {
            "header": {k: _jsonable(v) for k, v in self.header.items()},
            "sections": {
                s.key: {
                    "title": s.title,
                    "status": s.status,
                    "note": s.note,
                    "sources": list(s.sources),
                    "rows": [{k: _jsonable(v) for k, v in r.items()} for r in s.rows],
                }
                for s in self.sections
            },
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
