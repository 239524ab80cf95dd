"""Load YAML while remembering the line of every node, so errors can point at a line.

PyYAML's `compose` keeps `start_mark` on each node; we build plain Python values from the node
tree and a map from the value's location (a tuple of keys and list indices) to its 1-based
line. Duplicate keys in a mapping are reported (PyYAML would silently keep the last one, which
is how two Systems of Record for one object could slip through unnoticed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from q2c.policy.errors import ContractError, ContractIssue

Loc = tuple[str | int, ...]


@dataclass
class LocatedDocument:
    """A YAML document as Python values plus the line of every key and value."""

    file: Path
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)
    duplicates: list[ContractIssue] = field(default_factory=list)

    def line_of(self, loc: Loc) -> int | None:
        """The line of `loc`, or of its nearest enclosing node when `loc` itself is absent."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), None)


def where(loc: Loc) -> str:
    """`entities.account.fields[2]` style rendering of a location."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<document>"


def load_located(path: Path, text: str | None = None) -> LocatedDocument:
    """Parse `path` (or `text`, reported as `path`) into values with line numbers.

    Raises:
        ContractError: the file is not valid YAML, with the line PyYAML stopped at.
    """
    if text is None:
        text = path.read_text(encoding="utf-8")
    # libyaml's parser when present: ten times faster, and its nodes carry the same marks
    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ContractError(
            [
                ContractIssue(
                    path,
                    line,
                    "<document>",
                    f"the file is not valid YAML ({exc.problem}).",
                    "fix the indentation or quoting at that line (a value with ':' needs quotes).",
                )
            ]
        ) from exc
    finally:
        loader.dispose()
    doc = LocatedDocument(file=path, data=None)
    if root is None:
        doc.data = {}
        return doc
    doc.data = _build(root, (), doc, loader)
    return doc


def _build(node: yaml.Node, loc: Loc, doc: LocatedDocument, loader: Any) -> Any:
    doc.lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            key_line = key_node.start_mark.line + 1
            if key in seen:
                doc.duplicates.append(
                    ContractIssue(
                        doc.file,
                        key_line,
                        where((*loc, key)),
                        f"the key '{key}' appears twice in this mapping (first on line "
                        f"{seen[key]}); YAML would silently keep only the last one.",
                        "merge the two entries into one or rename one of them.",
                    )
                )
                continue
            seen[key] = key_line
            # a key's own line wins over its value's (a nested block starts a line later)
            doc.lines[(*loc, key)] = key_line
            out[key] = _build(value_node, (*loc, key), doc, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*loc, i), doc, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
