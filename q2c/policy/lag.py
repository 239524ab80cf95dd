"""Lag expectations from the contract: is a sync on time, late, or an incident?

Each entity (and a field that overrides it) states `expected_lag` and `incident_after`. A lag up
to `expected_lag` is `on_time`; up to `incident_after` it is `late` (warn); beyond, `incident`
(page the system's owner). Dagster freshness checks and the ownership sheet read the same
numbers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from q2c.policy.model import Contract, duration_seconds

LagStatus = Literal["on_time", "late", "incident"]


def lag_limits(
    contract: Contract, entity: str, field: str | None = None
) -> tuple[timedelta, timedelta]:
    """(expected_lag, incident_after) of an entity, or of one of its fields.

    Raises:
        KeyError: an unknown entity or field.
    """
    e = contract.entities[entity]
    if field is not None and field not in e.fields:
        raise KeyError(f"{entity}.{field}")
    sync = contract.field_sync(entity, field) if field is not None else e.sync
    return (
        timedelta(seconds=duration_seconds(sync.expected_lag or "0s")),
        timedelta(seconds=duration_seconds(sync.incident_after or "0s")),
    )


def lag_status(
    contract: Contract, entity: str, lag: timedelta, field: str | None = None
) -> LagStatus:
    """Classify a measured lag against the contract's expectation for `entity` (or `field`)."""
    expected, incident = lag_limits(contract, entity, field)
    if lag <= expected:
        return "on_time"
    return "late" if lag <= incident else "incident"
