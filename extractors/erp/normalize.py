"""One shape for an ERP (NetSuite SuiteQL) row.

SuiteQL answers `{"items": [{"links": [], "id": "12", ...}], ...}`: lowercase column names,
most values as strings, sometimes numbers, and NetSuite leaves a column out of an item when its
value is null. `normalize_record()` gives the landing shape of docs/INTERFACES.md section 3:
every selected column present (missing -> None), lowercase names, every value a string, ids and
references checked as integers, amounts as plain decimal strings (never floats), dates
`YYYY-MM-DD`, timestamps `YYYY-MM-DDTHH:MM:SSZ`. A value that does not parse as its column's kind
raises `RecordInvalid` naming the column (never the value), so the caller quarantines the row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

INTEGER_COLUMNS = frozenset(
    {
        "id",
        "currency",
        "subsidiary",
        "postingperiod",
        "entity",
        "transaction",
        "linesequencenumber",
        "account",
        "previousdoc",
        "previousline",
        "nextdoc",
        "nextline",
    }
)
AMOUNT_COLUMNS = frozenset(
    {"foreigntotal", "foreignamount", "debitforeignamount", "creditforeignamount"}
)
DATE_COLUMNS = frozenset({"trandate", "startdate", "enddate"})
TIMESTAMP_COLUMNS = frozenset({"datecreated", "createddate", "lastmodifieddate"})
BOOLEAN_COLUMNS = frozenset({"closed", "isquarter", "isyear"})

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_TS = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]00:?00)?$")


class RecordInvalid(ValueError):
    """One ERP row will not normalize; it is quarantined with this reason."""


_INT = re.compile(r"-?\d+")
# the timestamp shape SuiteQL answers in: valid as is, no parsing needed
_TS_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def _integer(value: Any) -> str:
    if isinstance(value, bool):
        raise ValueError("not an integer")
    text = value if type(value) is str else str(value)
    if text.isdigit() and (text[0] != "0" or len(text) == 1):
        return text  # already canonical: digits without a leading zero
    text = text.strip()
    if not _INT.fullmatch(text):
        raise ValueError("not an integer")
    return str(int(text))


def _amount(value: Any) -> str:
    if isinstance(value, bool):
        raise ValueError("not an amount")
    text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError("not an amount") from exc
    if not number.is_finite():
        raise ValueError("not a finite amount")
    return format(number, "f")


def _date(value: Any) -> str:
    text = str(value).strip()
    if _DATE.match(text):
        date.fromisoformat(text)  # raises on 2026-02-30
        return text
    m = _US_DATE.match(text)  # NetSuite's default date preference M/D/YYYY
    if m:
        month, day, year = (int(g) for g in m.groups())
        return datetime(year, month, day).strftime("%Y-%m-%d")
    raise ValueError("not a date")


def _timestamp(value: Any) -> str:
    text = str(value).strip()
    if _TS_Z.fullmatch(text):
        datetime.fromisoformat(text)  # raises on 2026-02-30T...; C-fast
        return text
    m = _TS.match(text)
    if not m:
        raise ValueError("not a timestamp")
    y, mo, d, h, mi, s, _ = m.groups()
    stamp = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _boolean(value: Any) -> str:
    if isinstance(value, bool):
        return "T" if value else "F"
    text = str(value).strip().upper()
    if text in ("T", "F"):
        return text
    if text in ("TRUE", "FALSE"):
        return text[0]
    raise ValueError("not T/F")


def _text(value: Any) -> str:
    if type(value) is str:
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict | list):
        raise ValueError("not a scalar")
    return str(value)


_CONVERTERS: dict[str, Any] = {
    **dict.fromkeys(INTEGER_COLUMNS, _integer),
    **dict.fromkeys(AMOUNT_COLUMNS, _amount),
    **dict.fromkeys(DATE_COLUMNS, _date),
    **dict.fromkeys(TIMESTAMP_COLUMNS, _timestamp),
    **dict.fromkeys(BOOLEAN_COLUMNS, _boolean),
}


def normalize_value(column: str, value: Any) -> str | None:
    """One column's value as a string in the landing shape (None stays None).

    Raises:
        ValueError: the value does not parse as the column's kind.
    """
    if value is None or value == "":
        return None
    return _CONVERTERS.get(column, _text)(value)


def normalize_record(item: Mapping[str, Any], columns: Sequence[str]) -> dict[str, str | None]:
    """A SuiteQL item in the landing shape.

    Args:
        item: one element of the response's `items` (its `links` is dropped).
        columns: the columns the query selected; missing ones become None (NetSuite omits
            nulls), extra ones are kept.

    Returns:
        `{lowercase column: string or None}` with the selected columns first, in order.

    Raises:
        RecordInvalid: a value does not parse, or the row has no `id`.
    """
    lowered = {(k if k.islower() else k.lower()): v for k, v in item.items() if k != "links"}
    lowered.pop("links", None)
    out: dict[str, str | None] = {}
    for name in columns:
        try:
            out[name] = normalize_value(name, lowered.pop(name, None))
        except (ValueError, TypeError) as exc:
            raise RecordInvalid(f"column {name}: {exc}") from exc
    for name, value in lowered.items():  # columns the query did not name: kept
        try:
            out[name] = normalize_value(name, value)
        except (ValueError, TypeError) as exc:
            raise RecordInvalid(f"column {name}: {exc}") from exc
    for key in ("id",) if "id" in columns else tuple(columns[:1]):
        if out.get(key) is None:
            raise RecordInvalid(f"row has no {key}")
    return out
