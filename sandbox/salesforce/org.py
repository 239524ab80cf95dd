"""The org's shape as the stand-in uses it: case-insensitive lookups over `salesforce_schema`.

Salesforce resolves object and field names case-insensitively and answers with the canonical
API name; every part of the stand-in goes through `Org` for that.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sandbox.world.salesforce_schema import KEY_PREFIXES, SOBJECTS, Field

TEXT_TYPES = frozenset(
    {"id", "string", "textarea", "picklist", "email", "phone", "url", "reference"}
)
NUMBER_TYPES = frozenset({"currency", "double", "int", "percent"})


@dataclass(frozen=True)
class SObjectDef:
    """One object: canonical name, key prefix and fields by lower-cased name."""

    name: str
    key_prefix: str
    fields: tuple[Field, ...]

    @cached_property
    def by_lower(self) -> dict[str, Field]:
        """Fields by lower-cased API name."""
        return {f.name.lower(): f for f in self.fields}

    @cached_property
    def relationships(self) -> dict[str, Field]:
        """Reference fields by lower-cased relationship name (`account` -> AccountId)."""
        return {f.relationship_name.lower(): f for f in self.fields if f.relationship_name}

    def field(self, name: str) -> Field | None:
        """The field named `name` (any case), or None."""
        return self.by_lower.get(name.lower())

    @cached_property
    def external_id_fields(self) -> tuple[Field, ...]:
        """Fields usable to look records up: external ids and unique fields."""
        return tuple(f for f in self.fields if f.external_id or f.unique)


class Org:
    """All objects of the org, resolved case-insensitively."""

    def __init__(self) -> None:
        self.objects: dict[str, SObjectDef] = {
            name.lower(): SObjectDef(name, KEY_PREFIXES[name], tuple(fields))
            for name, fields in SOBJECTS.items()
        }
        self.by_prefix = {o.key_prefix: o for o in self.objects.values()}

    def get(self, name: str) -> SObjectDef | None:
        """The object named `name` (any case), or None."""
        return self.objects.get(name.lower())

    def object_of_id(self, record_id: str) -> SObjectDef | None:
        """The object an id belongs to, by its key prefix."""
        return self.by_prefix.get(record_id[:3])


ORG = Org()

_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def id18(id15: str) -> str:
    """Salesforce's case-safe 18-character id: 15 characters plus a 3-character checksum."""
    suffix = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")
        suffix += _ID_ALPHABET[bits]
    return id15 + suffix


def normalize_id(value: str) -> str | None:
    """An 18-character id for a 15- or 18-character id, or None when it is not an id."""
    if len(value) == 15 and value.isalnum():
        return id18(value)
    if len(value) == 18 and value.isalnum():
        # The checksum is not verified: ids of a world are taken as the world wrote them.
        return value
    return None
