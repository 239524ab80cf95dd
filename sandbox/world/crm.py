"""Salesforce records: every field of `salesforce_schema.py`, in Salesforce's REST formats."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sandbox.world.ids import salesforce_id
from sandbox.world.salesforce_schema import KEY_PREFIXES, SOBJECTS

FIELD_NAMES = {name: [f.name for f in fields] for name, fields in SOBJECTS.items()}


def sf_datetime(ts: int) -> str:
    """Epoch seconds as Salesforce's REST datetime, `YYYY-MM-DDTHH:MM:SS.000+0000`."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def sf_date(ts: int) -> str:
    """Epoch seconds as a Salesforce date."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def money(minor: int) -> float:
    """Minor units as a Salesforce currency value (a JSON number with at most 2 decimals)."""
    return round(minor / 100, 2)


class SalesforceIds:
    """Sequential Salesforce ids per object."""

    def __init__(self, start: dict[str, int] | None = None) -> None:
        self.next = dict.fromkeys(KEY_PREFIXES, 1) if start is None else dict(start)

    def new(self, sobject: str) -> str:
        """The next id of `sobject`."""
        seq = self.next[sobject]
        self.next[sobject] = seq + 1
        return salesforce_id(KEY_PREFIXES[sobject], seq)


def record(
    sobject: str,
    rid: str,
    *,
    created: int,
    created_by: str,
    modified: int,
    modified_by: str,
    deleted: bool = False,
    **values: Any,
) -> dict[str, Any]:
    """A full record body: every schema field, unset ones null.

    Raises:
        KeyError: a value names a field the schema does not have.
    """
    names = FIELD_NAMES[sobject]
    body: dict[str, Any] = dict.fromkeys(names)
    body.update(
        Id=rid,
        IsDeleted=deleted,
        CreatedDate=sf_datetime(created),
        CreatedById=created_by,
        LastModifiedDate=sf_datetime(modified),
        LastModifiedById=modified_by,
        SystemModstamp=sf_datetime(modified),
    )
    for key, value in values.items():
        if key not in body:
            raise KeyError(f"{sobject}.{key} is not in salesforce_schema")
        body[key] = value
    if sobject == "Opportunity":
        body["IsClosed"] = body["StageName"] in ("Closed Won", "Closed Lost")
        body["IsWon"] = body["StageName"] == "Closed Won"
    if sobject == "Case":
        body["IsClosed"] = body["Status"] == "Closed"
    if sobject == "User":
        body["Name"] = f"{body['FirstName']} {body['LastName']}".strip()
    return body
