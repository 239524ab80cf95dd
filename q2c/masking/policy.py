"""The masking policy compiled from the contract's `sensitivity` section.

A `MaskingPolicy` answers, for a key or a path inside a record of a given system and object,
which sensitivity class it belongs to, and for a channel, which treatment that class gets.
The hashing salt comes from the environment variable the contract names
(`sensitivity.hashing.salt_env`), else from a file under `$Q2C_HOME` created once with 32
random bytes, so hashes are stable across runs and never derivable from code.
"""

from __future__ import annotations

import fnmatch
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from q2c.policy.loader import default_contract
from q2c.policy.model import CHANNELS, Contract
from q2c.settings import load_settings

PathPattern = tuple[str, ...]


@dataclass(frozen=True)
class MaskContext:
    """Where masked data is going, and (when known) what the record is.

    Attributes:
        channel: one of `q2c.policy.CHANNELS` (logs, events, dagster_metadata, exports, crm,
            support_views, writeback, dlq, audit).
        system: the contract's system key (billing, crm, support, erp) or a landing source
            name (billing, salesforce, erp).
        object: the object in that system (`customer`, `Contact`, `transaction`); Stripe
            records carry it in their `object` key, so it may be omitted for them.
    """

    channel: str
    system: str | None = None
    object: str | None = None

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}; use one of {', '.join(CHANNELS)}")


@dataclass(frozen=True)
class SensitiveClass:
    name: str
    category: str
    treatments: dict[str, str]
    scrub: frozenset[str]


@dataclass
class MaskingPolicy:
    """Lookups built once from the contract."""

    classes: dict[str, SensitiveClass]
    keys: dict[str, str]  # lower-case key -> class
    paths: dict[tuple[str, str], list[tuple[PathPattern, str]]]  # (system, object) -> patterns
    systems_by_source: dict[str, set[str]]
    salt: bytes
    digest_chars: int
    _scrub_cache: dict[str, frozenset[str]] = field(default_factory=dict)
    _pattern_cache: dict[tuple[str | None, str | None], PatternSet] = field(default_factory=dict)

    @classmethod
    def from_contract(cls, contract: Contract, salt: bytes | None = None) -> MaskingPolicy:
        """Compile `contract`'s sensitivity section (salt: explicit, else env, else file)."""
        sens = contract.sensitivity
        classes: dict[str, SensitiveClass] = {}
        keys: dict[str, str] = {}
        paths: dict[tuple[str, str], list[tuple[PathPattern, str]]] = {}
        for name, c in sens.classes.items():
            default = c.treatment.get("default")
            treatments = {ch: c.treatment.get(ch, default) or "redact" for ch in CHANNELS}
            classes[name] = SensitiveClass(name, c.category, treatments, frozenset(c.scrub))
            for key in c.keys:
                keys.setdefault(key.lower(), name)
            for ref in c.fields:
                system, rest = ref.split(":", 1)
                obj, _, path = rest.partition(".")
                pattern = tuple(p for p in path.replace("[]", "").split(".") if p)
                paths.setdefault((system, obj), []).append((pattern, name))
        by_source: dict[str, set[str]] = {}
        for key, s in contract.systems.items():
            by_source.setdefault(s.source, set()).add(key)
            by_source.setdefault(key, set()).add(key)
        return cls(
            classes=classes,
            keys=keys,
            paths=paths,
            systems_by_source=by_source,
            salt=salt if salt is not None else resolve_salt(contract),
            digest_chars=sens.hashing.digest_chars,
        )

    def treatment(self, class_name: str, channel: str) -> str:
        return self.classes[class_name].treatments[channel]

    def scrub_kinds(self, channel: str) -> frozenset[str]:
        """Pattern kinds to scrub in free text for `channel` (a class allowed there is kept)."""
        if channel not in self._scrub_cache:
            self._scrub_cache[channel] = frozenset(
                k
                for c in self.classes.values()
                if c.treatments[channel] != "allow"
                for k in c.scrub
            )
        return self._scrub_cache[channel]

    def patterns_for(self, system: str | None, obj: str | None) -> PatternSet:
        """The field patterns of `obj` in `system` (a system key or a source name), cached."""
        key = (system, obj)
        cached = self._pattern_cache.get(key)
        if cached is None:
            cached = PatternSet()
            if obj:
                systems = self.systems_by_source.get(system, {system}) if system else None
                for (s, o), patterns in self.paths.items():
                    if o == obj and (systems is None or s in systems):
                        for pattern, name in patterns:
                            cached.add(pattern, name)
            self._pattern_cache[key] = cached
        return cached


@dataclass
class PatternSet:
    """Field paths of one object: exact paths in a dict, `*` patterns checked one by one."""

    exact: dict[PathPattern, str] = field(default_factory=dict)
    wild: list[tuple[PathPattern, str]] = field(default_factory=list)

    def add(self, pattern: PathPattern, name: str) -> None:
        if any(ch in part for part in pattern for ch in "*?["):
            self.wild.append((pattern, name))
        else:
            self.exact.setdefault(pattern, name)

    def match(self, path: PathPattern) -> str | None:
        """The class of the first pattern equal to `path` or to a tail of it.

        Tails match so that a record wrapped in another (a dead-letter row's `payload`, an
        audit row's `before`) is still recognised; `*` matches any one key.
        """
        for start in range(len(path)):
            tail = path[start:]
            hit = self.exact.get(tail)
            if hit is not None:
                return hit
            for pattern, name in self.wild:
                if len(pattern) == len(tail) and all(
                    fnmatch.fnmatchcase(p, q) for p, q in zip(tail, pattern, strict=True)
                ):
                    return name
        return None


EMPTY_PATTERNS = PatternSet()


def resolve_salt(contract: Contract, env: Mapping[str, str] | None = None) -> bytes:
    """The hashing salt: `$<salt_env>` if set, else `$Q2C_HOME/<salt_file>` (created once)."""
    settings = load_settings(env)
    hashing = contract.sensitivity.hashing
    salt = settings.variable(hashing.salt_env)
    if salt:
        return salt.encode("utf-8")
    path = settings.home / hashing.salt_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes racing here must not end with two different salts
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


@lru_cache(maxsize=4)
def _default_policy(contract_id: int) -> MaskingPolicy:
    return MaskingPolicy.from_contract(default_contract())


def default_policy() -> MaskingPolicy:
    """The policy of the process's contract (rebuilt when the contract file changes)."""
    return _default_policy(id(default_contract()))
