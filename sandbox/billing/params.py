"""Stripe's form encoding of request parameters, parsed into nested Python values.

Stripe reads parameters from the query string (GET, DELETE) and from an
`application/x-www-form-urlencoded` body (POST) with brackets for structure:
`metadata[plan]=pro` is a dict, `expand[]=data.customer` and `expand[0]=...` are lists
(the official Python SDK sends indexed keys, curl users send `[]`), `created[gte]=1` is a
dict of range operators. Values stay strings; each endpoint converts and validates them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sandbox.billing.errors import invalid_request

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")

#: Dicts whose keys are user data: digit keys there are not list indexes.
_FREE_FORM = frozenset({"metadata"})


def parse_form(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Turn decoded `(key, value)` pairs into nested dicts and lists.

    Args:
        pairs: the decoded pairs in request order (query string, then body).

    Returns:
        A dict of parameter name to a string, a list, or a nested dict.

    Raises:
        StripeError: an `invalid_request_error` for a key Stripe would refuse
            (unbalanced brackets, `[]` in the middle of a key, a key used both as a value
            and as a container).
    """
    root: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if not match:
            raise invalid_request(f"Invalid parameter name: {key!r}.", param=key)
        path = [match.group(1), *_PART.findall(match.group(2))]
        _assign(root, path, value, key)
    return _listify(root, None)


def _assign(root: dict[str, Any], path: list[str], value: str, key: str) -> None:
    node: Any = root
    for i, part in enumerate(path[:-1]):
        nxt = path[i + 1]
        if part == "":
            raise invalid_request(f"Invalid parameter name: {key!r}.", param=key)
        child = node.get(part)
        if child is None:
            child = [] if nxt == "" else {}
            node[part] = child
        if nxt == "" and not isinstance(child, list):
            raise invalid_request(f"Invalid array parameter: {key!r}.", param=key)
        if nxt != "" and not isinstance(child, dict):
            raise invalid_request(f"Invalid hash parameter: {key!r}.", param=key)
        node = child
        if nxt == "" and i + 1 != len(path) - 1:
            # `a[][b]=x` (lists of hashes without indexes) is ambiguous; Stripe wants indexes.
            raise invalid_request(f"Invalid array parameter: {key!r}.", param=key)
    last = path[-1]
    if isinstance(node, list):
        node.append(value)
    elif isinstance(node.get(last), dict | list):
        raise invalid_request(f"Invalid parameter {key!r}: expected a hash or array.", param=key)
    else:
        node[last] = value


def _listify(node: Any, name: str | None) -> Any:
    """Turn `{"0": a, "1": b}` (the SDK's indexed arrays) into `[a, b]`."""
    if isinstance(node, list):
        return [_listify(v, None) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _listify(v, k) for k, v in node.items()}
    if name not in _FREE_FORM and out and all(k.isdigit() for k in out):
        return [out[k] for k in sorted(out, key=int)]
    return out
