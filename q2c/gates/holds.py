"""Records an output gate holds out of its batch (per record, not the whole batch).

Contract:
- Which records are held, and why, is relational and lives in dbt: `reconciliation.gate_holds`
  (one row per flow, record and open break of a kind in the contract's
  `output_gates.<flow>.blocking_break_kinds`). This module only reads it and splits a batch.
- `RECORD_KEY[flow]`: the batch column naming a record (the entry's `external_id`, the Account
  upsert's match value `billing_customer_id`, the `case_id`).
- `held_records(wh, flow)`: {record key: reasons} (names and ids, never values); None when the
  model is not built, so the caller fails closed (the gate refuses: it cannot tell what to hold).
- `split_batch(flow, batch, held)`: (rows that may go, rows held), neither frame the caller's.
- `hold_events(...)`: the `held_by_gate` audit events of held records, one per record and set of
  reasons (a record held by the same breaks run after run is recorded once).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from q2c.warehouse import Warehouse

if TYPE_CHECKING:
    import pandas as pd

    from q2c.audit.trail import AuditEvent

HOLDS_SCHEMA, HOLDS_TABLE = "reconciliation", "gate_holds"

#: flow -> the batch column whose value is a record's key in gate_holds
RECORD_KEY = {
    "erp_export": "external_id",
    "crm_account_sync": "billing_customer_id",
    "crm_case_sync": "case_id",
    "automations": "case_id",
}

Held = Mapping[str, tuple[str, ...]]


def held_records(wh: Warehouse | None, flow: str) -> dict[str, tuple[str, ...]] | None:
    """{record key: reasons} the flow holds now (None: gate_holds cannot be read)."""
    if wh is None or not wh.table_exists(HOLDS_SCHEMA, HOLDS_TABLE):
        return None
    rows = wh.fetchall(
        f"select record_key, reason from {HOLDS_SCHEMA}.{HOLDS_TABLE} where flow = ? "
        "order by record_key, break_id",
        [flow],
    )
    held: dict[str, list[str]] = {}
    for key, reason in rows:
        held.setdefault(str(key), []).append(str(reason))
    return {k: tuple(v) for k, v in held.items()}


def split_batch(flow: str, batch: pd.DataFrame, held: Held) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the rows that may go, the rows of held records)."""
    column = RECORD_KEY[flow]
    if batch.empty or not held or column not in batch:
        return batch.copy(), batch.iloc[0:0].copy()
    mask = batch[column].astype(str).isin(set(held))
    return batch[~mask].copy(), batch[mask].copy()


def hold_key(flow: str, record_key: str, reasons: Sequence[str]) -> str:
    """The audit trail's key of one hold: the same record held for the same reasons is one."""
    text = "\x1f".join([flow, record_key, *sorted(reasons)])
    return "hold-" + hashlib.sha256(text.encode()).hexdigest()[:32]


def hold_events(
    wh: Warehouse,
    flow: str,
    held: Held,
    *,
    run_id: str,
    actor: str,
    target_system: str,
    target_object: str,
    object_type: str,
) -> list[AuditEvent]:
    """`held_by_gate` events for the held records not yet recorded with these reasons."""
    from q2c.audit.trail import AuditEvent, existing_keys

    keys = {k: hold_key(flow, k, reasons) for k, reasons in held.items()}
    seen = existing_keys(wh, "held_by_gate", list(keys.values()))
    return [
        AuditEvent(
            action="held_by_gate",
            run_id=run_id,
            actor=actor,
            flow=flow,
            result="held",
            source_system="q2c",
            object_type=object_type,
            object_id=key,
            target_system=target_system,
            target_object=target_object,
            match_value=key,
            idempotency_key=keys[key],
            detail="; ".join(held[key])[:4000],
        )
        for key in sorted(held)
        if keys[key] not in seen
    ]
