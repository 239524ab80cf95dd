"""The audit trail: `ops.audit_trail`, append-only, one row per thing that happened to a record.

`record_events(wh, events)` appends `AuditEvent`s (before/after/losing values masked for the
contract's `audit` channel on the way in); `last_pushed(wh, target_system, sobject)` folds the
`written` rows into the last state q2c pushed per record and field (the write-back's diff
baseline); `trace(wh, any_id)` reads the chain for an id across the landed raw rows, the audit
trail, the outbox and the dead-letter queue.
"""

from q2c.audit.trace import TraceReport, trace
from q2c.audit.trail import (
    ACTIONS,
    AuditEvent,
    ensure_audit_table,
    events_for,
    existing_keys,
    last_pushed,
    record_events,
)

__all__ = [
    "ACTIONS",
    "AuditEvent",
    "TraceReport",
    "ensure_audit_table",
    "events_for",
    "existing_keys",
    "last_pushed",
    "record_events",
    "trace",
]
