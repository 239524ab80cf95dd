"""Identifiers shaped like the vendors': Stripe's prefixed ids and Salesforce's 18-character ids.

Stripe ids come from the caller's seeded `random.Random`, so they follow from the seed; keyed ids
(`keyed_id`) come from a hash of a key, for objects several companies share (payouts).
Salesforce ids are sequence numbers in base 62 behind the object's key prefix, with the real
case-safe 3-character suffix.
"""

from __future__ import annotations

import base64
import hashlib
import random

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


_ALNUM = bytes.maketrans(b"+/", b"xZ")  # base64 to letters and digits only


def stripe_id(rng: random.Random, prefix: str, length: int = 24) -> str:
    """A Stripe-style id such as `in_1Nv...` drawn from `rng` (letters and digits)."""
    nbytes = (length + 3) // 4 * 3
    raw = base64.b64encode(rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big"))
    return prefix + "_" + raw.translate(_ALNUM)[:length].decode()


def keyed_id(prefix: str, key: str, length: int = 24) -> str:
    """A Stripe-style id that depends only on `key` (for objects built from many companies)."""
    n = int.from_bytes(hashlib.sha256(key.encode()).digest()[:20], "big")
    chars = []
    for _ in range(length):
        n, r = divmod(n, 62)
        chars.append(B62[r])
    return prefix + "_" + "".join(chars)


def _b62(n: int, width: int) -> str:
    chars = []
    for _ in range(width):
        n, r = divmod(n, 62)
        chars.append(B62[r])
    return "".join(reversed(chars))


def salesforce_id(key_prefix: str, seq: int) -> str:
    """The 18-character Salesforce id of record number `seq` of an object (prefix `001`...)."""
    base = key_prefix + "8d0000" + _b62(seq, 6)
    suffix = ""
    for chunk in range(3):
        bits = 0
        for pos, ch in enumerate(base[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << pos
        suffix += _SUFFIX[bits]
    return base + suffix
