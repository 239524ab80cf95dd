"""Named fault profiles: one switch for the faults of every stand-in.

`profile(name)` returns `{"billing": {...}, "salesforce": {...}, "erp": {...}}`, each value a
fault dict in that stand-in's own vocabulary (documented in `sandbox.billing.faults`,
`sandbox.salesforce.faults` and `sandbox.erp.faults`), ready for
`sandbox.services.start_services(world_dir, faults, state_dir)` or `q2c sandbox up --faults`.

- `none`: every stand-in answers faithfully.
- `flaky`: modest rates of every fault each stand-in supports, the weather a pipeline meets on
  a normal day; a correct pipeline with retries, de-duplication and quarantine still ends with
  the world's counts. Timeouts are rare because each one costs the client its timeout.
- `hostile`: the same faults five to ten times as often, bursts of 5xx, a small daily API budget
  on Salesforce, a third of Bulk jobs failing: for proving the pipeline degrades loudly and
  recovers, not for speed.
- `provider_limits`: no faults, only the providers' documented ceilings (billing: 100 requests
  per rolling second, live mode's read rate, 429 `rate_limit_error` above it; Salesforce: the
  100,000-call daily allocation): for measuring a backfill as a fraction of what the real
  services allow (`python -m bench.extract_billing --faults provider_limits`).

Every profile is seeded, so the same request sequence meets the same faults.
"""

from __future__ import annotations

import copy
from typing import Any

_NONE: dict[str, dict[str, Any]] = {"billing": {}, "salesforce": {}, "erp": {}}

_FLAKY: dict[str, dict[str, Any]] = {
    "billing": {
        "seed": 7,
        "rate_limit": {"probability": 0.03},
        "server_errors": {"every": 60, "burst": 2},
        "slow": {"probability": 0.05, "delay_ms": 150},
        "timeout": {"probability": 0.002, "seconds": 20},
        "drop_connection": {"probability": 0.01},
        "duplicate_events": {"rate": 0.02},
        "out_of_order_events": {"rate": 0.02},
        "malformed_records": {"rate": 0.002},
    },
    "salesforce": {
        "seed": 7,
        "request_limit": {"rate": 0.02},
        "server_error": {"rate": 0.02},
        "slow": {"rate": 0.03, "seconds": 0.5},
        "drop_connection": {"rate": 0.01},
        "session_expired": {"rate": 0.01},
        "late_update": {"rate": 0.02},
        "malformed_record": {"rate": 0.002},
        "bulk_job_failed": {"rate": 0.05},
        "bulk_in_progress": {"rate": 0.3},
        "ingest_row_invalid": {"rate": 0.01},
        "unable_to_lock_row": {"rate": 0.02},
    },
    "erp": {
        "seed": 7,
        "rate_limit": 0.03,
        "server_error": 0.02,
        "server_error_burst": 2,
        "slow_ms": 20,
        "timeout": 0.002,
        "timeout_s": 20,
        "drop_connection": 0.01,
        "malformed_rows": 0.002,
        "expired_token": 0.01,
        "late_update": 0.01,
        "late_update_lag_s": 3600,
        "vies_unavailable": 0.05,
    },
}

_HOSTILE: dict[str, dict[str, Any]] = {
    "billing": {
        "seed": 13,
        "rate_limit": {"probability": 0.2},
        "server_errors": {"every": 10, "burst": 3},
        "slow": {"probability": 0.3, "delay_ms": 400},
        "timeout": {"probability": 0.02, "seconds": 20},
        "drop_connection": {"probability": 0.05},
        "duplicate_events": {"rate": 0.1},
        "out_of_order_events": {"rate": 0.1},
        "malformed_records": {"rate": 0.02},
    },
    "salesforce": {
        "seed": 13,
        "daily_api_limit": 5000,
        "request_limit": {"rate": 0.15},
        "server_error": {"rate": 0.1},
        "slow": {"rate": 0.2, "seconds": 1.5},
        "drop_connection": {"rate": 0.05},
        "session_expired": {"rate": 0.05},
        "late_update": {"rate": 0.1},
        "malformed_record": {"rate": 0.02},
        "bulk_job_failed": {"rate": 0.33},
        "bulk_in_progress": {"rate": 0.8},
        "ingest_row_invalid": {"rate": 0.05},
        "unable_to_lock_row": {"rate": 0.1},
    },
    "erp": {
        "seed": 13,
        "rate_limit": 0.2,
        "server_error": 0.1,
        "server_error_burst": 5,
        "slow_ms": 150,
        "timeout": 0.02,
        "timeout_s": 20,
        "drop_connection": 0.05,
        "malformed_rows": 0.02,
        "expired_token": 0.05,
        "late_update": 0.05,
        "late_update_lag_s": 6 * 3600,
        "vies_unavailable": 0.3,
    },
}

_PROVIDER_LIMITS: dict[str, dict[str, Any]] = {
    "billing": {"rate_limit": {"per_second": 100}},
    "salesforce": {"daily_api_limit": 100_000},
    "erp": {},
}

PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "none": _NONE,
    "flaky": _FLAKY,
    "hostile": _HOSTILE,
    "provider_limits": _PROVIDER_LIMITS,
}


def profile(name: str) -> dict[str, dict[str, Any]]:
    """A fresh copy of the named profile's per-service fault dicts.

    Raises:
        KeyError: an unknown profile name (the message lists the known ones).
    """
    if name not in PROFILES:
        raise KeyError(f"unknown fault profile {name!r}; known: {', '.join(PROFILES)}")
    return copy.deepcopy(PROFILES[name])
