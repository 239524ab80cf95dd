"""The write-back's decisions as small pure functions (no I/O), each with unit tests.

- `normalize`: one text form for comparing a payload value (dbt text), a CRM value (JSON typed)
  and a value from the audit trail: `12.5` == `12.50`, `True` == `"true"`, `""` == `None`.
- `group_desired`: the sync model's (record, field) rows grouped per record; fields outside the
  contract's write set are refused (returned, never written).
- `changed_fields`: the diff against the last state pushed (and the CRM's extracted value), so a
  run with no change sends nothing.
- `resolve`: the contract's winner rule per field against the CRM's current values, the losing
  values kept.
- `idempotency_key`: sha256 of object, record, field values and source reference.
- `is_transient`, `backoff_seconds`: what to retry in the run, and how long to wait.
- `to_canonical`, `to_label`: the contract's value maps both ways (the org's picklist label
  <-> q2c's canonical word), so a write sends the label the org uses.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from q2c.policy.conflicts import ConflictDecision, decide
from q2c.policy.model import Contract, ValueMap, WriteTarget, normalize_value
from q2c.writeback.model import CurrentRecord, FlowSpec

T = TypeVar("T")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")

#: provider error codes a retry can fix (lock contention, limits, outages); everything else
#: (validation rules, bad values, missing fields) fails again until someone changes something
TRANSIENT_CODES = frozenset(
    {
        "UNABLE_TO_LOCK_ROW",
        "REQUEST_LIMIT_EXCEEDED",
        "SERVER_UNAVAILABLE",
        "QUERY_TIMEOUT",
        "UNKNOWN_EXCEPTION",
        "UNPROCESSED",  # a Bulk job's unprocessed row (the job failed or was aborted)
        "TRANSPORT",  # the request failed as a whole (connection dropped, retries exhausted)
    }
)


def normalize(value: Any) -> str | None:
    """The comparable text of a value: numbers without trailing zeros, booleans lower-case."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        number = Decimal(str(value))
    elif isinstance(value, str) and _NUMBER.match(value):
        try:
            number = Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
            return value
    else:
        text = str(value)
        return text.lower() if text.lower() in ("true", "false") else text
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "0") else text


@dataclass
class Desired:
    """What one CRM record should hold, per the sync model."""

    match_value: str
    record_id: str | None
    values: dict[str, str | None] = field(default_factory=dict)
    crm_values: dict[str, str | None] = field(default_factory=dict)  # as last extracted
    source_refs: dict[str, str] = field(default_factory=dict)

    @property
    def source_ref(self) -> str:
        """One reference for the record: its fields' sources, sorted and de-duplicated."""
        return " ".join(sorted(set(self.source_refs.values())))


@dataclass(frozen=True)
class Refused:
    """A row naming a field the contract does not let q2c write."""

    match_value: str
    record_id: str | None
    field_api_name: str
    value: Any
    source_ref: str | None


def group_desired(
    rows: Iterable[Mapping[str, Any]], spec: FlowSpec, target: WriteTarget
) -> tuple[dict[str, Desired], list[Refused]]:
    """Group sync-model rows (`field_api_name`, `proposed_value`, `crm_value`, `source_ref`)
    per record; rows for fields outside `target.fields` are refused."""
    allowed = set(target.fields)
    desired: dict[str, Desired] = {}
    refused: list[Refused] = []
    for row in rows:
        match_value = row.get(spec.match_column)
        if match_value is None:
            continue
        match_value = str(match_value)
        fname = str(row["field_api_name"])
        record_id = row.get(spec.record_column)
        if fname not in allowed:
            refused.append(
                Refused(
                    match_value, record_id, fname, row.get("proposed_value"), row.get("source_ref")
                )  # fmt: skip
            )
            continue
        d = desired.setdefault(match_value, Desired(match_value, record_id))
        d.values[fname] = row.get("proposed_value")
        d.crm_values[fname] = row.get("crm_value")
        if row.get("source_ref"):
            d.source_refs[fname] = str(row["source_ref"])
    return desired, refused


def changed_fields(desired: Desired, pushed: Mapping[str, Any] | None) -> list[str]:
    """The fields that may need a write: ours differs from what we last pushed, or the CRM (as
    last extracted) holds a value that is neither ours nor our last push (someone edited it).
    Never pushed: ours differs from the CRM's extracted value."""
    pushed = pushed or {}
    out = []
    for fname, ours in desired.values.items():
        mine, crm = normalize(ours), normalize(desired.crm_values.get(fname))
        if fname not in pushed:
            if mine != crm:
                out.append(fname)
            continue
        last = normalize(pushed[fname])
        if mine != last or (crm != mine and crm != last):
            out.append(fname)
    return out


@dataclass(frozen=True)
class Resolution:
    """What to send for one record after the winner rules, and what lost."""

    payload: dict[str, str | None]  # field -> value to write
    before: dict[str, Any]  # the CRM's current values of the written fields
    #: (field API name, decision, ours, theirs) where a value lost and the contract keeps it
    conflicts: tuple[tuple[str, ConflictDecision, Any, Any], ...]


def resolve(
    contract: Contract,
    target: WriteTarget,
    desired: Desired,
    fields: Sequence[str],
    current: CurrentRecord | None,
    pushed: Mapping[str, Any] | None,
    integration_user_id: str | None,
) -> Resolution:
    """Apply each field's winner rule (`q2c.policy.conflicts.decide`) against the live CRM.

    A record the CRM does not have yet (`current` None) gets every field (an upsert creates it).
    """
    pushed = pushed or {}
    payload: dict[str, str | None] = {}
    before: dict[str, Any] = {}
    conflicts = []
    by_person = bool(
        current is not None
        and current.last_modified_by_id
        and current.last_modified_by_id != integration_user_id
    )
    for fname in fields:
        ours = desired.values.get(fname)
        theirs = None if current is None else current.values.get(fname)
        last = pushed.get(fname)
        decision = decide(
            contract,
            target.system,
            target.object,
            fname,
            ours=normalize(ours),
            theirs=normalize(theirs),
            last_pushed=normalize(last) if fname in pushed else None,
            theirs_by_person=by_person,
        )
        if decision.write:
            payload[fname] = ours
            before[fname] = theirs
        if decision.losing_value is not None and decision.keep_losing_value:
            conflicts.append((fname, decision, ours, theirs))
    return Resolution(payload, before, tuple(conflicts))


def idempotency_key(
    sobject: str, match_value: str, values: Mapping[str, Any], source_ref: str
) -> str:
    """sha256 of the target object, the record, the field values (normalized) and the source."""
    body = {
        "object": sobject,
        "record": match_value,
        "values": {k: normalize(v) for k, v in sorted(values.items())},
        "source": source_ref,
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_transient(code: str) -> bool:
    """Whether an error code is worth retrying in the same run."""
    return code in TRANSIENT_CODES


def backoff_seconds(
    attempt: int, initial: float, maximum: float, rng: random.Random | None = None
) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(maximum, initial * 2**(n-1))]."""
    ceiling = min(float(maximum), float(initial) * (2 ** max(attempt - 1, 0)))
    return (rng or random).uniform(0, ceiling)


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def to_canonical(vm: ValueMap, value: Any) -> Any:
    """The canonical word an org's label stands for (`Overdue` -> `past_due`); a value the map
    does not name is returned as it is (the read side reports it as a data-quality finding)."""
    if value is None or value == "":
        return value
    norm = {"case_insensitive": vm.case_insensitive}
    table = {normalize_value(k, **norm): v for k, v in vm.values.items()}
    return table.get(normalize_value(str(value), **norm), value)


def to_label(vm: ValueMap, canonical: Any, picklist: Sequence[str] = ()) -> Any:
    """The org's label for a canonical word (the reverse of `to_canonical`).

    Candidates are the canonical word itself and every label the map sends to it, in the map's
    order. With the org's picklist (describe) the first candidate it holds wins, in the
    picklist's own spelling; without one, the first label the map names (the canonical word when
    it names none). A word no candidate of which is in the picklist is sent as it is (the CRM's
    validation then refuses it: a dead letter with the reason, never a silent drop)."""
    if canonical is None or canonical == "":
        return canonical
    norm = {"case_insensitive": vm.case_insensitive}
    word = str(canonical)
    labels = [k for k, v in vm.values.items() if normalize_value(v, **norm) ==
              normalize_value(word, **norm)]  # fmt: skip
    if not picklist:
        return labels[0] if labels else word
    allowed = {normalize_value(p, **norm): p for p in picklist}
    for candidate in (word, *labels):
        if (hit := allowed.get(normalize_value(candidate, **norm))) is not None:
            return hit
    return word
