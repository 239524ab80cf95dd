"""Load `policy/ownership.yml` into a validated `Contract`, or fail with every problem located.

Three passes, each reporting file and line: YAML syntax (and duplicate keys), the typed model
(missing, unknown or ill-typed keys), then the cross-reference rules of `q2c.policy.rules`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from q2c.policy.errors import ContractError, ContractIssue
from q2c.policy.model import Contract
from q2c.policy.rules import check_rules
from q2c.policy.yaml_source import Loc, LocatedDocument, load_located, where
from q2c.settings import load_settings

#: the repository's contract; `Q2C_POLICY_FILE` points elsewhere (tests, other deployments)
REPO_CONTRACT = Path(__file__).resolve().parents[2] / "policy" / "ownership.yml"


def contract_path(env: Mapping[str, str] | None = None) -> Path:
    """The contract file this process (or `env`) uses: `$Q2C_POLICY_FILE` or
    `policy/ownership.yml`."""
    return load_settings(env).policy_file or REPO_CONTRACT


def load_contract(path: Path | str | None = None, *, text: str | None = None) -> Contract:
    """Parse and validate a contract.

    Args:
        path: the file (default: `contract_path()`); with `text`, only the name used in errors.
        text: the YAML itself, when it is not read from `path`.

    Returns:
        The validated contract.

    Raises:
        ContractError: with one `ContractIssue` (file, line, problem, fix) per problem.
    """
    path = Path(path) if path is not None else contract_path()
    if text is None and not path.is_file():
        raise ContractError(
            [
                ContractIssue(
                    path,
                    None,
                    "<document>",
                    "the contract file does not exist.",
                    "create it (start from policy/ownership.yml) or point Q2C_POLICY_FILE at it.",
                )
            ]
        )
    doc = load_located(path, text)
    issues = list(doc.duplicates)
    if not isinstance(doc.data, dict):
        issues.append(
            ContractIssue(
                path,
                1,
                "<document>",
                "the contract is not a YAML mapping.",
                "start the file with `version: 1` and the sections as keys.",
            )
        )
        raise ContractError(issues)
    try:
        contract = Contract.model_validate(doc.data)
    except ValidationError as exc:
        issues.extend(_pydantic_issues(exc, doc))
        raise ContractError(issues) from None
    issues.extend(check_rules(contract, doc))
    if issues:
        raise ContractError(issues)
    return contract


@lru_cache(maxsize=8)
def _cached(path: str, mtime_ns: int) -> Contract:
    return load_contract(Path(path))


def default_contract() -> Contract:
    """The process's contract, loaded once per file version (reloaded when the file changes)."""
    path = contract_path()
    return _cached(str(path), path.stat().st_mtime_ns)


def _navigable(loc: tuple[Any, ...], data: Any) -> Loc:
    """The longest prefix of a pydantic `loc` that exists in the document (drops union tags)."""
    out: list[str | int] = []
    node = data
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if in_dict or in_list:
            node = node[part]
        else:
            break
        out.append(part)
    return tuple(out)


def _pydantic_issues(exc: ValidationError, doc: LocatedDocument) -> list[ContractIssue]:
    issues: list[ContractIssue] = []
    seen: set[Loc] = set()
    for err in exc.errors(include_url=False):
        loc = _navigable(err["loc"], doc.data)
        kind = err["type"]
        if kind == "missing":
            key = err["loc"][len(loc)] if len(err["loc"]) > len(loc) else "?"
            full: Loc = (*loc, key)
            problem = f"the required key '{key}' is missing."
            fix = f"add `{key}:` under {where(loc)}."
        elif kind == "extra_forbidden":
            full = loc
            problem = f"unknown key '{loc[-1]}' (a typo, or a key this section does not take)."
            fix = "remove it or correct its spelling."
        elif kind == "literal_error":
            full = loc
            problem = f"{err['input']!r} is not allowed here."
            fix = err["msg"].replace("Input should be", "use") + "."
        else:
            full = loc
            problem = f"{err['msg']} (got {err['input']!r})."
            fix = "correct the value as the message says."
        if full in seen:  # a union reports once per member; one line is enough
            continue
        seen.add(full)
        issues.append(ContractIssue(doc.file, doc.line_of(full), where(full), problem, fix))
    return issues
