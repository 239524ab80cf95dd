"""Salesforce records: every field of `salesforce_schema.py`, in Salesforce's REST formats."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from typing import Any

from sandbox.world.ids import salesforce_id
from sandbox.world.profiles import UNMAPPED_STATUS, Profile
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


def _variant(label: str, key: str) -> str:
    """`label` as an import with the picklist unrestricted typed it (case or spacing)."""
    return (label.upper(), label.lower(), label + " ", " " + label.lower())[
        zlib.crc32(key.encode()) % 4
    ]


def present_record(profile: Profile, sobject: str, body: dict[str, Any]) -> dict[str, Any]:
    """A record body as `profile`'s org stores it: its field names and picklist labels.

    Which labels come out in another case or spacing (`variant_share`) depends only on the
    record id and field, so the same world always gets the same bytes.
    """
    renames = profile.crm_field_names.get(sobject, {})
    labels = profile.labels.get(sobject, {})
    out: dict[str, Any] = {}
    for name, value in body.items():
        mapping = labels.get(name)
        if mapping is not None and value in mapping:
            value = mapping[value]
            key = f"{body['Id']}:{name}"
            if value is not None and zlib.crc32(key[::-1].encode()) % 10_000 < (
                profile.variant_share * 10_000
            ):
                value = _variant(value, key)
        elif mapping is not None and value is not None and value != UNMAPPED_STATUS:
            raise ValueError(f"{sobject}.{name}: no {profile.name} label for {value!r}")
        out[renames.get(name, name)] = value
    return out
