"""CRM write-back: changed rows only, gated, phased, idempotent, with a dead-letter queue.

- `flows`: the two flows (`crm_account_sync`, `crm_case_sync`) and their dbt payload models;
- `model`: the `CrmWriter` Protocol the Salesforce adapter implements, and the row types;
- `decisions`: the pure rules (diff, ownership filter, winner rules, idempotency key, backoff);
- `store`: `ops.outbox` and `ops.dead_letters`;
- `engine.run_flow`: one run of one flow; `redrive.redrive`: the checked DLQ redrive;
- `sync_rows`: read a flow's payload rows from the warehouse.
The audit trail lives in `q2c.audit`.
"""

from q2c.writeback.engine import FlowReport, WriteRequestFailed, run_flow
from q2c.writeback.flows import FLOWS
from q2c.writeback.model import CrmWriter, CurrentRecord, FlowSpec, RowError, RowResult, WriteRow
from q2c.writeback.source import sync_rows

__all__ = [
    "FLOWS",
    "CrmWriter",
    "CurrentRecord",
    "FlowReport",
    "FlowSpec",
    "RowError",
    "RowResult",
    "WriteRequestFailed",
    "WriteRow",
    "run_flow",
    "sync_rows",
]
