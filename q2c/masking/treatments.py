"""The five treatments of the sensitivity policy, applied to one value.

- `drop`: the key disappears (the caller removes it; `apply` returns `DROP`).
- `hash`: `h:` + the first `digest_chars` hex digits of sha256(salt + canonical value); stable for
  the same salt, so masked records still join on the hashed value.
- `redact`: the fixed marker `[REDACTED]`.
- `mask`: account numbers keep at most the first six and last four characters (fewer when the
  value is short, so at least half is always hidden); every other character becomes `*`.
- `scrub`: free text kept, with the sensitive values and patterns inside it removed (done by
  the record walker, which knows the record's sensitive values; here: patterns only).
- `allow`: unchanged.

`None` stays `None` under every treatment but drop: a missing value reveals nothing.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

from q2c.masking.scrub import scrub_text

DROP: Final = object()
REDACTED = "[REDACTED]"
TREATMENTS = ("drop", "hash", "redact", "mask", "scrub", "allow")


def canonical(value: Any) -> str:
    """The stable text of a value for hashing (sorted keys, no spaces)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def hash_value(value: Any, salt: bytes, digest_chars: int = 16) -> str:
    """`h:<hex>`: salted sha256 of the canonical value, truncated to `digest_chars`."""
    digest = hashlib.sha256(salt + b"\x00" + canonical(value).encode("utf-8")).hexdigest()
    return "h:" + digest[:digest_chars]


def mask_account_number(value: str) -> str:
    """Keep at most the first six and last four alphanumerics; star the rest.

    Short numbers keep less: 20+ alphanumerics (IBANs) keep 6 + 4, 8..19 keep the last 4,
    shorter keep nothing, so at least half of any number is hidden. Separators stay in place.
    """
    n = sum(ch.isalnum() for ch in value)
    head, tail = (6, 4) if n >= 20 else (0, 4) if n >= 8 else (0, 0)
    out, seen = [], 0
    for ch in value:
        if ch.isalnum():
            keep = seen < head or seen >= n - tail
            out.append(ch if keep else "*")
            seen += 1
        else:
            out.append(ch)
    return "".join(out)


def _mask_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_tree(v) for v in value]
    if value is None or isinstance(value, bool):
        return value
    return mask_account_number(str(value))


def _scrub_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrub_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_tree(v) for v in value]
    return scrub_text(value) if isinstance(value, str) else value


def apply(treatment: str, value: Any, salt: bytes, digest_chars: int = 16) -> Any:
    """Apply `treatment` to `value` (a scalar or a whole sub-tree); `DROP` means remove the key.

    Raises:
        ValueError: an unknown treatment (the contract model rejects those at load).
    """
    if treatment == "drop":
        return DROP
    if treatment == "allow":
        return value
    if value is None:
        return None
    if treatment == "hash":
        return hash_value(value, salt, digest_chars)
    if treatment == "redact":
        return REDACTED
    if treatment == "mask":
        return _mask_tree(value)
    if treatment == "scrub":
        return _scrub_tree(value)
    raise ValueError(f"unknown treatment {treatment!r}; use one of {', '.join(TREATMENTS)}")
