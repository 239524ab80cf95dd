"""Fault injection for the ERP stand-in (and the VIES stand-in it hosts).

Fault names (all default off; rates are probabilities per request, 0..1):

| name | effect |
|---|---|
| `rate_limit` | 429 `CONCURRENCY_LIMIT_EXCEEDED` with `Retry-After: 1` |
| `server_error` | 500 `UNEXPECTED_ERROR` |
| `server_error_burst` | an integer N: the next N API requests answer 503, then it is 0 again |
| `slow_ms` | milliseconds added to every API response |
| `timeout` | the request hangs `timeout_s` seconds (default 30) before answering |
| `drop_connection` | the connection is cut after the headers and part of the body |
| `malformed_rows` | each SuiteQL item is corrupted (amounts/dates/ids become `#VALUE!`) |
| `expired_token` | a valid credential is refused 401 `INVALID_LOGIN` (as when a token is revoked) |
| `late_update` | after a SuiteQL page over `transaction`, one served transaction's memo is |
| | edited, stamped `late_update_lag_s` (default 3600) before the newest `lastmodifieddate` |
| | in the table: a change a strict `>` cursor misses |
| `vies_unavailable` | the VIES check answers `MS_UNAVAILABLE` (member state service down) |
| `concurrency_limit` | record/async service requests in flight at once (default 5, NetSuite's |
| | account governance); one more answers 429 `CONCURRENCY_LIMIT_EXCEEDED`; 0: no limit |
| `seed` | seeds the fault dice, so a run is repeatable |

Faults apply to the API paths, never to `/__sandbox/*`. Every response a fault produced carries
`X-Sandbox-Fault: <name>`, and `GET /__sandbox/fault-counts` counts them, so a test can show
the stand-in produced the fault. Change faults at run time with `PUT /__sandbox/faults`
(merged; unknown names are a 400).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any

DEFAULTS: dict[str, Any] = {
    "rate_limit": 0.0,
    "server_error": 0.0,
    "server_error_burst": 0,
    "slow_ms": 0,
    "timeout": 0.0,
    "timeout_s": 30.0,
    "drop_connection": 0.0,
    "malformed_rows": 0.0,
    "expired_token": 0.0,
    "late_update": 0.0,
    "late_update_lag_s": 3600,
    "vies_unavailable": 0.0,
    "concurrency_limit": 5,
    "seed": 0,
}
_RATES = {
    "rate_limit",
    "server_error",
    "timeout",
    "drop_connection",
    "malformed_rows",
    "expired_token",
    "late_update",
    "vies_unavailable",
}


class FaultError(ValueError):
    """A fault setting has an unknown name or a bad value."""


def validate(update: dict[str, Any]) -> dict[str, Any]:
    """Check a (partial) fault dict; returns it with numbers normalised.

    Raises:
        FaultError: an unknown name or a value of the wrong type or range.
    """
    if not isinstance(update, dict):
        raise FaultError("faults must be a JSON object")
    out: dict[str, Any] = {}
    for name, value in update.items():
        if name not in DEFAULTS:
            raise FaultError(f"unknown ERP fault {name!r}; known: {', '.join(sorted(DEFAULTS))}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FaultError(f"fault {name!r} must be a number")
        if name in _RATES and not 0 <= value <= 1:
            raise FaultError(f"fault {name!r} is a probability between 0 and 1")
        if value < 0:
            raise FaultError(f"fault {name!r} must not be negative")
        if name in (
            "server_error_burst",
            "seed",
            "slow_ms",
            "late_update_lag_s",
            "concurrency_limit",
        ):
            out[name] = int(value)
        else:
            out[name] = float(value)
    return out


class FaultState:
    """The current faults of one stand-in, safe to read and change from any thread."""

    def __init__(self, faults: dict[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._faults = dict(DEFAULTS)
        self.counts: Counter[str] = Counter()
        self._rng = random.Random(0)
        self.update(faults or {})

    def update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Merge `update` into the faults (validated) and return the whole dict."""
        clean = validate(update)
        with self._lock:
            self._faults.update(clean)
            if "seed" in clean:
                self._rng = random.Random(clean["seed"])
            return dict(self._faults)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._faults)

    def get(self, name: str) -> Any:
        with self._lock:
            return self._faults[name]

    def roll(self, name: str) -> bool:
        """True if the fault `name` fires for this request (and count it)."""
        with self._lock:
            rate = self._faults[name]
            fired = rate > 0 and self._rng.random() < rate
            if fired:
                self.counts[name] += 1
            return fired

    def choice(self, items: list[Any]) -> Any:
        """A seeded pick among `items` (for faults that choose a victim)."""
        with self._lock:
            return self._rng.choice(items)

    def take_burst(self) -> bool:
        """True if a 5xx burst is in progress; consumes one request of it."""
        with self._lock:
            if self._faults["server_error_burst"] > 0:
                self._faults["server_error_burst"] -= 1
                self.counts["server_error_burst"] += 1
                return True
            return False
