"""Idempotency keys as Stripe keeps them.

A POST with `Idempotency-Key` stores its first response (status and body) once the endpoint
has started executing; the same key with the same method, path and parameters replays that
response (header `Idempotent-Replayed: true`); the same key with anything else is a 400
`idempotency_error`; keys longer than 255 characters are refused. Requests that fail
validation before the endpoint runs are not stored, as Stripe documents
(https://docs.stripe.com/api/idempotent_requests). Keys are scoped by API key and kept in
`billing.sqlite` table `idempotency_keys`, so they survive a restart of the stand-in.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from typing import Any

import orjson

from sandbox.billing.errors import StripeError, invalid_request

MAX_KEY_LENGTH = 255

_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency_keys(
  api_key_hash TEXT NOT NULL,
  key TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  status INTEGER NOT NULL,
  body BLOB NOT NULL,
  created INTEGER NOT NULL,
  PRIMARY KEY (api_key_hash, key)
)
"""


@dataclass(frozen=True)
class Stored:
    """A response kept for a key."""

    status: int
    body: bytes


def ensure_table(conn: sqlite3.Connection) -> None:
    """Create `idempotency_keys` if the world file lacks it."""
    conn.execute(_SCHEMA)


def check_key(key: str) -> None:
    """Refuse keys Stripe refuses.

    Raises:
        StripeError: 400 `invalid_request_error` for an empty or over-long key.
    """
    if not key or len(key) > MAX_KEY_LENGTH:
        raise invalid_request(
            f"Idempotency keys must be 1 to {MAX_KEY_LENGTH} characters long; "
            f"this one has {len(key)}.",
            param="Idempotency-Key",
        )


def request_hash(method: str, path: str, params: dict[str, Any]) -> str:
    """A digest of what makes two requests "the same" for a key."""
    canonical = orjson.dumps([method.upper(), path, params], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def _scope(api_key: str) -> str:
    # the API key is a secret: only its digest is stored
    return hashlib.sha256(api_key.encode()).hexdigest()[:32]


def lookup(conn: sqlite3.Connection, api_key: str, key: str, req_hash: str) -> Stored | None:
    """The stored response for `key`, or None if the key is new.

    Raises:
        StripeError: 400 `idempotency_error` when the key was used for another request.
    """
    row = conn.execute(
        "SELECT request_hash, status, body FROM idempotency_keys "
        "WHERE api_key_hash = ? AND key = ?",
        (_scope(api_key), key),
    ).fetchone()
    if row is None:
        return None
    if row[0] != req_hash:
        raise StripeError(
            400,
            "idempotency_error",
            "Keys for idempotent requests can only be used with the same parameters they "
            f"were first used with. Try using a key other than '{key}' if you meant to "
            "execute a different request.",
        )
    return Stored(int(row[1]), bytes(row[2]))


def store(
    conn: sqlite3.Connection,
    api_key: str,
    key: str,
    req_hash: str,
    status: int,
    body: bytes,
    created: int,
) -> None:
    """Keep the first response to `key`."""
    conn.execute(
        "INSERT OR IGNORE INTO idempotency_keys"
        "(api_key_hash, key, request_hash, status, body, created) VALUES (?, ?, ?, ?, ?, ?)",
        (_scope(api_key), key, req_hash, status, body, created),
    )
