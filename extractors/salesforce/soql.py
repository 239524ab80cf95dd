"""SOQL for incremental and windowed extracts, and the cursor arithmetic around it.

The incremental filter is `SystemModstamp >= cursor - overlap`, never a bare `>` on the cursor:
rows that share the cursor's timestamp, or whose transaction committed after rows with a later
stamp were served (Salesforce stamps at save, visibility comes at commit), would be lost at the
boundary. The overlap re-reads a few minutes the landing already holds; the landing
stores a version only when it differs from the latest one landed, so that is free of
duplicates. A change committed
with a stamp older than `cursor - overlap` is beyond what a timestamp filter can see: the
extractor's late-change sweep (Ids and stamps of the last day compared with what landed) and
the monthly Bulk backfill (a full re-read of a window) catch those.

SOQL datetime literals are unquoted `YYYY-MM-DDThh:mm:ssZ`
(https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_dateformats.htm).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from extractors.salesforce.normalize import normalize_datetime, parse_datetime

DEFAULT_OVERLAP = timedelta(minutes=5)
#: URI plus headers over 16,384 bytes get 414/431; keep REST GET queries well below.
MAX_REST_QUERY_CHARS = 12_000

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def soql_datetime(value: datetime) -> str:
    """A SOQL datetime literal in UTC, floored to the second (`2026-10-01T12:00:00Z`)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def overlap_start(cursor: str | None, overlap: timedelta = DEFAULT_OVERLAP) -> datetime | None:
    """Where the next incremental read starts: the cursor minus the overlap, floored to seconds.

    Args:
        cursor: the stored cursor (a landed `SystemModstamp`), or None before the first run.
        overlap: how far back to re-read.

    Returns:
        The lower bound (inclusive), or None for a full read.
    """
    if not cursor:
        return None
    start = parse_datetime(cursor) - overlap
    return start.replace(microsecond=0)


#: SOQL's escape sequences in quoted strings (one pass, so nothing is escaped twice):
#: https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_quotedstringescapes.htm
_SOQL_ESCAPES = str.maketrans(
    {
        "\\": "\\\\",
        "'": "\\'",
        '"': '\\"',
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
        "\b": "\\b",
        "\f": "\\f",
    }
)


def soql_string(value: str) -> str:
    """A SOQL string literal: every value taken from data goes into a query through this."""
    return "'" + str(value).translate(_SOQL_ESCAPES) + "'"


def _check_name(name: str) -> str:
    # names come from describe and configuration; refuse anything that is not an identifier so
    # nothing can be spliced into the query
    if not _NAME.match(name):
        raise ValueError(f"not a Salesforce API name: {name!r}")
    return name


def build_query(
    sobject: str,
    fields: Sequence[str],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    order: bool = True,
) -> str:
    """The SELECT for one object, optionally bounded by `SystemModstamp`.

    Args:
        sobject: the object's API name.
        fields: the field API names to select (from `describe`).
        since: inclusive lower bound on `SystemModstamp` (`>=`).
        until: exclusive upper bound on `SystemModstamp` (`<`), for backfill windows.
        order: add `ORDER BY SystemModstamp, Id` (the REST incremental needs it so the cursor
            can advance page by page).

    Returns:
        The SOQL text.
    """
    if not fields:
        raise ValueError(f"no fields to select from {sobject}")
    names = [_check_name(f) for f in fields]
    if "Id" not in names:
        names.insert(0, "Id")
    if "SystemModstamp" not in names:
        names.append("SystemModstamp")
    soql = f"SELECT {', '.join(names)} FROM {_check_name(sobject)}"
    where = []
    if since is not None:
        where.append(f"SystemModstamp >= {soql_datetime(since)}")
    if until is not None:
        where.append(f"SystemModstamp < {soql_datetime(until)}")
    if where:
        soql += " WHERE " + " AND ".join(where)
    if order:
        soql += " ORDER BY SystemModstamp ASC, Id ASC"
    return soql


_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


def build_id_query(sobject: str, fields: Sequence[str], ids: Sequence[str]) -> str:
    """`SELECT <fields> FROM <object> WHERE Id IN ('...', ...)`, for fetching known records.

    Raises:
        ValueError: an id is not a 15- or 18-character Salesforce id.
    """
    if not ids:
        raise ValueError("no ids to fetch")
    for record_id in ids:
        if not _ID.match(record_id):
            raise ValueError("not a Salesforce id")
    quoted = ", ".join(soql_string(i) for i in ids)
    return build_query(sobject, fields, order=False) + f" WHERE Id IN ({quoted})"


def max_stamp(current: str | None, stamps: Sequence[str | None]) -> str | None:
    """The greater of a cursor and the `SystemModstamp`s of a page, in the landing's format.

    The cursor never moves backwards: a page of re-read overlap rows leaves it where it was.
    Values are normalized to `YYYY-MM-DDTHH:MM:SS.mmmZ` first, whose text order is time order.
    """
    values = [normalize_datetime(s) for s in stamps if s]
    if current:
        values.append(normalize_datetime(current))
    return max(values) if values else None
