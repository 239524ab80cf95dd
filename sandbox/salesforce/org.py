"""The org's shape as the stand-in uses it: case-insensitive lookups over `salesforce_schema`.

Salesforce resolves object and field names case-insensitively and answers with the canonical
API name; every part of the stand-in goes through `Org` for that.

The org is the served world's: a world of another profile (`meta.profile` in its
`salesforce.sqlite`, see `sandbox.world.profiles`) has its own custom field names and picklist
values. `ORG` is the org of the request being served: `create_app` sets it for each request
(`serving`), so two stand-ins over worlds of different profiles can share one process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

from sandbox.world.profiles import profile_of_world, resolve_profile
from sandbox.world.salesforce_schema import KEY_PREFIXES, Field, sobjects_for

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

    def __init__(self, profile: str = "default") -> None:
        self.profile = profile
        self.objects: dict[str, SObjectDef] = {
            name.lower(): SObjectDef(name, KEY_PREFIXES[name], tuple(fields))
            for name, fields in sobjects_for(resolve_profile(profile)).items()
        }
        self.by_prefix = {o.key_prefix: o for o in self.objects.values()}

    def get(self, name: str) -> SObjectDef | None:
        """The object named `name` (any case), or None."""
        return self.objects.get(name.lower())

    def object_of_id(self, record_id: str) -> SObjectDef | None:
        """The object an id belongs to, by its key prefix."""
        return self.by_prefix.get(record_id[:3])


@cache
def org_of_profile(profile: str) -> Org:
    """The org of a world profile (one instance per profile)."""
    return Org(profile)


def org_of_world(world_dir: Path) -> Org:
    """The org of the world in `world_dir` (its profile's; `default` when it names none)."""
    return org_of_profile(profile_of_world(world_dir).name)


_SERVED: ContextVar[Org] = ContextVar("sandbox_salesforce_org")


@contextmanager
def serving(org: Org) -> Iterator[None]:
    """Make `org` the one `ORG` answers for, in this context (a request, a setup step)."""
    token = _SERVED.set(org)
    try:
        yield
    finally:
        _SERVED.reset(token)


class _ServedOrg:
    """`Org`'s lookups on the org being served (the default org outside any request)."""

    @property
    def _org(self) -> Org:
        return _SERVED.get(None) or org_of_profile("default")

    @property
    def profile(self) -> str:
        return self._org.profile

    @property
    def objects(self) -> dict[str, SObjectDef]:
        return self._org.objects

    @property
    def by_prefix(self) -> dict[str, SObjectDef]:
        return self._org.by_prefix

    def get(self, name: str) -> SObjectDef | None:
        """The object named `name` (any case), or None."""
        return self._org.get(name)

    def object_of_id(self, record_id: str) -> SObjectDef | None:
        """The object an id belongs to, by its key prefix."""
        return self._org.object_of_id(record_id)


ORG = _ServedOrg()

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
