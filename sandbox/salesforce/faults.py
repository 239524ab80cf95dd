"""Fault injection for the Salesforce stand-in.

Faults come as a JSON object (at `create_app(faults=...)` and merged by
`PUT /__sandbox/faults`; a key set to null is removed). Triggered faults take a *trigger*:
`{"count": n}` fires on the next n matching occasions, `{"rate": p}` on each with probability p
(seeded by `"seed"`, default 0); both may be given. An optional `"path"` (substring of the URL
path) narrows request-level faults; an optional `"record_ids"` (a list of record Ids) narrows the
record-written faults to those records (poison rows: `{"rate": 1, "record_ids": [...]}` fails
every write of them and nothing else). `fired()` (`GET /__sandbox/faults/fired`) counts how
often each fault fired, per record for the record-written ones.

Name (occasion): effect.

- `request_limit` (API request): 403 `REQUEST_LIMIT_EXCEEDED` "ConcurrentPerOrgLongTxn Limit
  exceeded." (rate limiting; the daily budget is separate, see `daily_api_limit`).
- `server_error` (API request): a 5xx (`status`, default 503) `SERVER_UNAVAILABLE`; a `count`
  is a burst.
- `slow` (API request): answers after `seconds` (default 2): slow responses, client timeouts.
- `drop_connection` (API request): sends the headers, then closes the connection mid-body.
- `session_expired` (API request): 401 `INVALID_SESSION_ID`, and the token is revoked.
- `late_update` (query page served): a person edits a served record, stamped `lag_seconds`
  (default 3600) before the newest `SystemModstamp` already served.
- `malformed_record` (query page served): one record of the page has a value of the wrong type.
- `bulk_job_failed` (Bulk job run): the job ends `Failed`; ingest rows stay unprocessed.
- `bulk_in_progress` (Bulk job status poll): answers `InProgress` before the real state.
- `ingest_row_invalid` (record written): the row fails `FIELD_CUSTOM_VALIDATION_EXCEPTION`.
- `unable_to_lock_row` (record written): the row fails `UNABLE_TO_LOCK_ROW`.

Plain settings: `daily_api_limit` (int, default 100000), `api_usage` (int: set the count used
today), `session_lifetime_seconds` (float, default 7200), `seed` (int).
"""

from __future__ import annotations

import random
import threading
from typing import Any

TRIGGERED = frozenset(
    {
        "request_limit",
        "server_error",
        "slow",
        "drop_connection",
        "session_expired",
        "late_update",
        "malformed_record",
        "bulk_job_failed",
        "bulk_in_progress",
        "ingest_row_invalid",
        "unable_to_lock_row",
    }
)
SETTINGS = frozenset({"daily_api_limit", "api_usage", "session_lifetime_seconds", "seed"})
_TRIGGER_KEYS = frozenset(
    {"count", "rate", "path", "status", "seconds", "lag_seconds", "record_ids"}
)


class FaultError(ValueError):
    """A fault specification the stand-in does not understand."""


def _check(name: str, spec: Any) -> None:
    if name in SETTINGS:
        if not isinstance(spec, int | float) or isinstance(spec, bool) or spec < 0:
            raise FaultError(f"{name} must be a non-negative number")
        return
    if name not in TRIGGERED:
        raise FaultError(f"unknown fault {name!r}; known: {sorted(TRIGGERED | SETTINGS)}")
    if not isinstance(spec, dict) or not spec.keys() <= _TRIGGER_KEYS:
        raise FaultError(f"{name} needs an object with keys among {sorted(_TRIGGER_KEYS)}")
    if "count" not in spec and "rate" not in spec:
        raise FaultError(f"{name} needs 'count' or 'rate'")
    if not isinstance(spec.get("count", 0), int) or spec.get("count", 0) < 0:
        raise FaultError(f"{name}.count must be a non-negative integer")
    if not 0 <= float(spec.get("rate", 0)) <= 1:
        raise FaultError(f"{name}.rate must be within 0..1")
    ids = spec.get("record_ids")
    if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
        raise FaultError(f"{name}.record_ids must be a list of record Ids")


class Faults:
    """The current fault settings of one app; thread-safe."""

    def __init__(self, initial: dict[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._specs: dict[str, Any] = {}
        self._rng = random.Random(0)
        self._fired: dict[str, int] = {}
        self.update(initial or {})

    def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge `changes` (null removes a key); validate first, so a bad PUT changes nothing."""
        if not isinstance(changes, dict):
            raise FaultError("faults must be a JSON object")
        for name, spec in changes.items():
            if spec is not None:
                _check(name, spec)
        with self._lock:
            for name, spec in changes.items():
                if spec is None:
                    self._specs.pop(name, None)
                else:
                    self._specs[name] = dict(spec) if isinstance(spec, dict) else spec
                if name == "seed" and spec is not None:
                    self._rng = random.Random(int(spec))
            return self.snapshot_locked()

    def snapshot(self) -> dict[str, Any]:
        """The current fault settings (remaining counts included)."""
        with self._lock:
            return self.snapshot_locked()

    def snapshot_locked(self) -> dict[str, Any]:
        """`snapshot` for callers that hold the lock."""
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in self._specs.items()}

    def setting(self, name: str, default: float) -> float:
        """A plain setting such as `daily_api_limit`, or `default`."""
        with self._lock:
            value = self._specs.get(name, default)
        return float(value)

    def pop_setting(self, name: str) -> float | None:
        """Read a one-shot setting (such as `api_usage`) and remove it."""
        with self._lock:
            value = self._specs.pop(name, None)
        return None if value is None else float(value)

    def fire(
        self, name: str, path: str = "", record_id: str | None = None
    ) -> dict[str, Any] | None:
        """The fault's spec if it fires on this occasion (consuming one `count`), else None."""
        with self._lock:
            spec = self._specs.get(name)
            if spec is None:
                return None
            if spec.get("path") and spec["path"] not in path:
                return None
            if spec.get("record_ids") is not None and record_id not in spec["record_ids"]:
                return None
            fired: dict[str, Any] | None = None
            if spec.get("count", 0) > 0:
                spec["count"] -= 1
                fired = dict(spec)
                if spec["count"] == 0 and "rate" not in spec:
                    del self._specs[name]
            else:
                rate = float(spec.get("rate", 0))
                if rate and self._rng.random() < rate:
                    fired = dict(spec)
            if fired is not None:
                self._fired[name] = self._fired.get(name, 0) + 1
                if record_id:
                    key = f"{name}:{record_id}"
                    self._fired[key] = self._fired.get(key, 0) + 1
            return fired

    def fired(self) -> dict[str, int]:
        """How often each fault fired (`<name>` and `<name>:<record id>`), since the start."""
        with self._lock:
            return dict(self._fired)
