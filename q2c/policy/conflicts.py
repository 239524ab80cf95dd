"""The write-back's ownership filter: may the pipeline write this field, and who wins?

`decide(contract, target, field, ours=..., theirs=..., last_pushed=..., theirs_by_person=...)`
applies the field's winner rule from the contract:

- a field outside the write set is never written (`NotInWriteSetError`);
- equal values: nothing to write;
- `owner_wins`: the owner's value (ours) is written; a different CRM value is the losing value;
- `human_edit_wins`: when a person changed the CRM value since our last push, theirs stands
  and ours is kept as the losing value, until our value changes again (then we write);
- `flag_for_review`: never written automatically; the difference goes to a person.

`keep_losing_value` tells the audit trail to store the losing value. The engine calls this per
(record, field) after the diff against the last state pushed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from q2c.policy.model import Contract


class NotInWriteSetError(PermissionError):
    """The pipeline may not write this field: it is not in the contract's write set."""


@dataclass(frozen=True)
class ConflictDecision:
    """What to do with one field of one record."""

    field_id: str  # the contract's <entity>.<field>
    write: bool
    value: Any  # what to write when `write`
    losing_value: Any  # the value that lost (None when nothing lost)
    keep_losing_value: bool
    rule: str
    reason: str


def decide(
    contract: Contract,
    system: str,
    sobject: str,
    field_api_name: str,
    *,
    ours: Any,
    theirs: Any,
    last_pushed: Any = None,
    theirs_by_person: bool = False,
) -> ConflictDecision:
    """Apply the contract's winner rule to one field.

    Args:
        contract: the ownership contract.
        system: the written system (`crm`, `support`).
        sobject: the Salesforce object (`Account`).
        field_api_name: the field (`MRR__c`).
        ours: the owner's current value (what the pipeline would write).
        theirs: the value in the target system now.
        last_pushed: what the pipeline last wrote there (None if never).
        theirs_by_person: the target's last change was made by a person, not the integration
            user (`LastModifiedById`).

    Raises:
        NotInWriteSetError: the field is not in the write set.
    """
    allowed = {(t.system, t.object, f) for t, f in contract.write_set()}
    if (system, sobject, field_api_name) not in allowed:
        raise NotInWriteSetError(
            f"{system} {sobject}.{field_api_name} is not in the contract's write set"
        )
    found = contract.find_field(system, f"{sobject}.{field_api_name}")
    assert found is not None  # the contract validation guarantees a mapped field
    ename, fname = found
    resolution = contract.entities[ename].fields[fname].resolution
    assert resolution is not None  # likewise: written fields carry their own rule
    fid, rule, keep = f"{ename}.{fname}", resolution.winner, resolution.keep_losing_value

    def result(write: bool, losing: Any, reason: str) -> ConflictDecision:
        return ConflictDecision(fid, write, ours if write else None, losing, keep, rule, reason)

    if ours == theirs:
        return result(False, None, "already equal")
    if rule == "owner_wins":
        return result(True, theirs, "the owner's value wins")
    if rule == "human_edit_wins":
        person_changed = theirs_by_person and theirs != last_pushed
        if person_changed and ours == last_pushed:
            return result(False, ours, "a person's edit wins until the owner's value changes")
        return result(True, theirs, "the owner's value changed since the last push")
    return result(False, None, "flagged for review: no automatic winner")
