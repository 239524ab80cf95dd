"""Scan what the pipeline leaves behind for the PII values of a sandbox world's truth.

The world records every generated personal or tax value in `truth.sqlite`'s `pii` table
(system, object, id, field, value). `world_pii(world, policy)` reads them (a person's given and
family names joined into one "First Last") and gives each its sensitivity class from the
contract (by the field's path for that system and object, else by its key, as `q2c.masking`
classifies a record); `PiiScanner(values, policy)` then searches texts
for them, each text labelled with where it comes from and the contract's channel it belongs to
(logs, dagster_metadata, dlq, audit, crm, exports, reports, ...). A value is a leak where its
class's treatment for that channel is anything but `allow`: hashed, redacted, dropped and
masked values must never appear whole (a masked bank number keeps at most its first six and
last four characters, so the whole number is a leak too).

Matching: each value and its common spellings (digits only for phones and bank numbers, an IBAN
in groups of four, an email in lower case, each also as JSON escapes it) as a whole word,
case-sensitive. Values shorter than `MIN_LEN` characters and digit-only values shorter than
`MIN_DIGITS` (postal codes, which collide with amounts and ids) are not searched (`skipped`
says how many). A person's family name alone counts where the given name is within `NEAR`
characters. Each text is tokenized once; a value is checked only where its longest token
occurs, so a run's whole event log scans in seconds.
"""

from __future__ import annotations

import json
import re
import sqlite3
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from q2c.masking import MaskingPolicy

MIN_LEN = 4
MIN_DIGITS = 6
NEAR = 300
_TOKEN = re.compile(r"\w+")


def _WORD(ch: str) -> bool:  # noqa: N802 - reads as the regex class it stands for
    return ch.isalnum() or ch == "_"


@dataclass(frozen=True)
class PiiValue:
    """One value of the world's truth and its sensitivity class (None: not classified)."""

    value: str
    system: str
    object: str
    field: str
    cls: str | None
    #: for a person's whole name ("First Last"): the given name; the family name alone counts
    #: too where the given name is a whole word within `NEAR` characters of it (a record's
    #: separate `FirstName` and `LastName` fields)
    given: str | None = None


@dataclass(frozen=True)
class Hit:
    """A PII value found where its class may not go."""

    where: str
    channel: str
    value: PiiValue
    excerpt: str

    def __str__(self) -> str:
        v = self.value
        return (
            f"{self.where} [{self.channel}]: {v.system}:{v.object}.{v.field} ({v.cls}) "
            f"{v.value!r} in ...{self.excerpt}..."
        )


def classify(policy: MaskingPolicy, system: str, obj: str, path: str) -> str | None:
    """The sensitivity class of `system:obj.path` as the contract names it (path, then keys)."""
    parts = tuple(p for p in path.split(".") if p)
    patterns = policy.patterns_for(system, obj)
    for end in range(len(parts), 0, -1):
        hit = patterns.match(parts[:end])
        if hit:
            return hit
    for part in reversed(parts):
        hit = policy.keys.get(part.lower())
        if hit:
            return hit
    return None


#: given and family names are searched for together: alone, "Read", "Hans" or "Marcus" are
#: common words or the names of the company's own people the contract lists
NAME_PARTS = (("FirstName", "LastName"), ("first_name", "last_name"))


def world_pii(world: Path, policy: MaskingPolicy) -> list[PiiValue]:
    """Every PII value of the world's truth, classified by the contract (a person's given and
    family name as one value, "First Last")."""
    with sqlite3.connect(world / "truth.sqlite") as conn:
        rows = conn.execute("select distinct system, object, id, field, value from pii").fetchall()
    parts = {f for pair in NAME_PARTS for f in pair}
    names: dict[tuple[str, str, str], dict[str, str]] = {}
    out: set[PiiValue] = set()
    for system, obj, oid, fld, value in rows:
        if not value:
            continue
        if fld in parts:
            names.setdefault((system, obj, oid), {})[fld] = str(value)
            continue
        out.add(PiiValue(str(value), system, obj, fld, classify(policy, system, obj, fld)))
    for (system, obj, _), given in names.items():
        for first, last in NAME_PARTS:
            if first in given and last in given:
                fld = f"{first}+{last}"
                cls = classify(policy, system, obj, first)
                whole = f"{given[first]} {given[last]}"
                out.add(PiiValue(whole, system, obj, fld, cls, given=given[first]))
    return sorted(out, key=lambda v: (v.system, v.object, v.field, v.value))


def spellings(value: str) -> set[str]:
    """The value and the other ways it is commonly written."""
    out = {value}
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 8 and not re.search(r"[A-Za-z]", value):
        out.add(digits)  # a phone or bank number without its separators
    compact = value.replace(" ", "")
    if re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{8,30}", compact):  # an IBAN, grouped or not
        out.add(compact)
        out.add(" ".join(compact[i : i + 4] for i in range(0, len(compact), 4)))
    if "@" in value:
        out.add(value.lower())
    out |= {json.dumps(form)[1:-1] for form in out}  # as JSON writes it (`\u00e9` for é)
    return {s for s in out if _searchable(s)}


def _searchable(s: str) -> bool:
    return len(s) >= MIN_LEN and not (s.isdigit() and len(s) < MIN_DIGITS)


@dataclass
class PiiScanner:
    """Search labelled texts for the values a channel may not carry (see the module)."""

    values: list[PiiValue]
    policy: MaskingPolicy
    hits: list[Hit] = field(default_factory=list)
    scanned: dict[str, int] = field(default_factory=dict)  # where -> characters scanned
    skipped: int = 0
    _by_token: dict[str, list[tuple[str, PiiValue, str | None]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for v in self.values:
            forms = {(form, None) for form in spellings(v.value)}
            if v.given and _searchable(v.value[len(v.given) + 1 :]):
                forms.add((v.value[len(v.given) + 1 :], v.given))  # the family name, near
            if not forms:
                self.skipped += 1
            for form, near in forms:
                token = max(_TOKEN.findall(form) or [form], key=len)
                self._by_token.setdefault(token, []).append((form, v, near))

    def allowed(self, value: PiiValue, channel: str) -> bool:
        """Whether the contract lets `value`'s class appear whole in `channel`."""
        return value.cls is not None and self.policy.treatment(value.cls, channel) == "allow"

    def scan(self, where: str, channel: str, text: str) -> list[Hit]:
        """Record and return the hits in `text` (from `where`, bound for `channel`)."""
        self.scanned[where] = self.scanned.get(where, 0) + len(text)
        found: list[Hit] = []
        seen: set[PiiValue] = set()  # one hit per value and text
        for m in _TOKEN.finditer(text):
            for form, value, near in self._by_token.get(m.group(0), ()):
                if value in seen or self.allowed(value, channel):
                    continue
                # the token is a whole \w run of the form, so a match puts it here
                start = m.start() - form.index(m.group(0))
                end = start + len(form)
                if (
                    start >= 0
                    and text.startswith(form, start)
                    and not (start and _WORD(text[start - 1]))
                    and not (end < len(text) and _WORD(text[end]))
                    and (near is None or _near(text, near, start, end))
                ):
                    seen.add(value)
                    excerpt = text[max(0, start - 60) : end + 60].replace("\n", " ")
                    found.append(Hit(where, channel, value, excerpt))
        self.hits.extend(found)
        return found

    def scan_file(self, path: Path, channel: str, where: str | None = None) -> list[Hit]:
        """A file's text (an .xlsx's sheets and strings; an SQLite file's text is in its pages)."""
        label = where or str(path)
        if path.suffix == ".xlsx":
            return [h for text in _xlsx_texts(path) for h in self.scan(label, channel, text)]
        return self.scan(label, channel, path.read_bytes().decode("utf-8", "replace"))

    def report(self, limit: int = 20) -> str:
        """The hits, one a line (the first `limit`), with a count per place and class."""
        counts: dict[tuple[str, str | None], int] = {}
        for h in self.hits:
            counts[(h.where, h.value.cls)] = counts.get((h.where, h.value.cls), 0) + 1
        lines = [f"{len(self.hits)} PII values where the contract does not allow them:"]
        lines += [f"  {n:5d}  {w}  ({c})" for (w, c), n in sorted(counts.items())]
        lines += [f"  {h}" for h in self.hits[:limit]]
        return "\n".join(lines)


def _near(text: str, word: str, start: int, end: int) -> bool:
    """Whether `word` is a whole word within `NEAR` characters of `text[start:end]`."""
    window = text[max(0, start - NEAR) : end + NEAR]
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", window) is not None


def _xlsx_texts(path: Path) -> Iterator[str]:
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.endswith(".xml"):
                yield z.read(name).decode("utf-8", "replace")


def files_under(root: Path, skip: Iterable[str] = ()) -> list[Path]:
    """Every regular file under `root` whose path (relative) starts with none of `skip`."""
    prefixes = tuple(skip)
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not str(p.relative_to(root)).startswith(prefixes)
    )
