"""`q2c policy check`: the go/no-go over the contract.

Go only when the contract loads (no `ContractIssue`) and every mapped field has a named owner
and a resolution rule, written on the field or on its entity's `defaults`. Everything missing is
listed with its line, so the owner of the file knows exactly what to add.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from q2c.policy.errors import ContractError, ContractIssue
from q2c.policy.loader import contract_path, load_contract
from q2c.policy.model import Contract
from q2c.policy.yaml_source import load_located


@dataclass
class CheckReport:
    """The verdict: `ok` only when `issues` is empty."""

    file: Path
    issues: list[ContractIssue] = field(default_factory=list)
    entities: int = 0
    fields: int = 0
    write_set: int = 0
    gates: int = 0

    @property
    def ok(self) -> bool:
        return not self.issues

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "file": str(self.file),
            "entities": self.entities,
            "fields": self.fields,
            "write_set": self.write_set,
            "gates": self.gates,
            "issues": [i.as_dict() for i in self.issues],
        }


def check_contract(path: Path | None = None) -> CheckReport:
    """Load the contract at `path` and list everything that stops a go.

    Args:
        path: the contract file (default: `contract_path()`).

    Returns:
        The report; `report.ok` is the go/no-go.
    """
    path = path or contract_path()
    report = CheckReport(file=path)
    try:
        contract = load_contract(path)
    except ContractError as exc:
        report.issues = exc.issues
        return report
    report.issues = missing_owners_and_rules(contract, path)
    report.entities = len(contract.entities)
    report.fields = sum(len(e.fields) for e in contract.entities.values())
    report.write_set = len(contract.write_set())
    report.gates = len(contract.compliance.gates)
    return report


def missing_owners_and_rules(contract: Contract, path: Path) -> list[ContractIssue]:
    """One issue per mapped field without an effective owner or resolution rule."""
    doc = load_located(path)
    issues: list[ContractIssue] = []
    for ename, e in contract.entities.items():
        for fname in e.fields:
            loc = ("entities", ename, "fields", fname)
            line = doc.line_of(loc)
            at = f"entities.{ename}.fields.{fname}"
            if contract.field_owner(ename, fname) is None:
                issues.append(
                    ContractIssue(
                        path,
                        line,
                        at,
                        f"field '{ename}.{fname}' has no named owner.",
                        f"add `owner: <system>` to the field or `defaults: {{owner: ...}}` to "
                        f"entities.{ename}.",
                    )
                )
            if contract.field_resolution(ename, fname) is None:
                issues.append(
                    ContractIssue(
                        path,
                        line,
                        at,
                        f"field '{ename}.{fname}' has no resolution rule.",
                        "add `resolution: {winner: owner_wins|human_edit_wins|flag_for_review, "
                        "keep_losing_value: true, reason: ...}` to the field or the entity's "
                        "defaults.",
                    )
                )
    return issues
