"""Contract problems a person can act on: which file, which line, what is wrong, how to fix it.

Every validation step (YAML syntax, the typed model, the cross-reference rules) reports
`ContractIssue`s; `ContractError` carries all of them at once so one run lists every problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ContractIssue:
    """One problem in the contract file.

    Attributes:
        file: the contract file.
        line: 1-based line of the offending node (None when the node is missing entirely and
            no enclosing node is known).
        where: the dotted location in the document (`entities.account.fields.mrr`).
        problem: what is wrong, in one sentence.
        fix: how to fix it, in one sentence.
    """

    file: Path
    line: int | None
    where: str
    problem: str
    fix: str

    def render(self) -> str:
        """`file:line: where: problem. Fix: fix` (the compiler-style line editors jump to)."""
        loc = f"{self.file}:{self.line}" if self.line else str(self.file)
        return f"{loc}: {self.where}: {self.problem} Fix: {self.fix}"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": str(self.file),
            "line": self.line,
            "where": self.where,
            "problem": self.problem,
            "fix": self.fix,
        }


class ContractError(ValueError):
    """The contract cannot be used; `issues` lists every problem found."""

    def __init__(self, issues: list[ContractIssue]) -> None:
        self.issues = issues
        lines = "\n".join(i.render() for i in issues)
        super().__init__(f"{len(issues)} problem(s) in the ownership contract:\n{lines}")
