"""Gate decisions: the `GateDecision` value and its table `ops.gate_decisions`.

Contract:
- One row per decision (append-only; recording the same decision twice is a no-op), with the
  flow, the run id, whether it passed, every reason as a JSON array of text, the Great
  Expectations validation result's id, the batch's row count and when it was decided.
- Reasons name checks, columns, counts and field API names, never a row's values (no PII).
- `held_count`: records of the batch the gate held out (each with its reason in the decision's
  `held` and in the audit trail, `held_by_gate`); the rest went if it passed.
- `previous_row_count(flow)`: the row count of the flow's last passed batch, which the next
  batch's row-count check compares against.
- DDL is create-if-not-exists and the same for DuckDB and PostgreSQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from q2c.warehouse import Warehouse

SCHEMA = "ops"
TABLE = "gate_decisions"

_DDL = f"""
create table if not exists {SCHEMA}.{TABLE} (
    flow varchar not null,
    run_id varchar not null,
    decided_at timestamp with time zone not null,
    passed boolean not null,
    reasons varchar not null,
    validation_id varchar,
    row_count bigint,
    primary key (flow, run_id, decided_at)
)
"""


@dataclass(frozen=True)
class GateDecision:
    """Whether one flow's batch may leave in one run, and every reason when it may not."""

    flow: str
    run_id: str
    passed: bool
    #: every reason it failed (empty when passed)
    reasons: tuple[str, ...]
    #: the Great Expectations validation result's identifier (None when no suite ran)
    validation_id: str | None
    decided_at: datetime
    #: rows in the batch the suite validated (None when no suite ran)
    row_count: int | None = None
    #: records held out of the batch -> why (open breaks of the flow's kinds); never sent
    held: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: rows of those records
    held_rows: int = 0

    def metadata(self) -> dict[str, Any]:
        """The decision as plain values for Dagster metadata and logs (no row values)."""
        return {
            "flow": self.flow,
            "run_id": self.run_id,
            "passed": self.passed,
            "reasons": list(self.reasons),
            "validation_id": self.validation_id or "",
            "row_count": -1 if self.row_count is None else self.row_count,
            "held_records": len(self.held),
            "held_rows": self.held_rows,
            "decided_at": self.decided_at.isoformat(),
        }


def _open(warehouse: Warehouse | str) -> tuple[Warehouse, bool]:
    if isinstance(warehouse, Warehouse):
        return warehouse, False
    return Warehouse.from_url(warehouse), True


def ensure_table(warehouse: Warehouse) -> None:
    """Create `ops.gate_decisions` when it does not exist."""
    key = f"{SCHEMA}.{TABLE}"
    if key in warehouse.prepared:
        return
    warehouse.ensure_schema(SCHEMA)
    warehouse.execute(_DDL)
    # added after the first release: warehouses created before it gain the column
    warehouse.execute(f"alter table {SCHEMA}.{TABLE} add column if not exists held_count bigint")
    warehouse.prepared.add(key)


def record_gate_decision(warehouse: Warehouse | str, decision: GateDecision) -> None:
    """Append `decision` to `ops.gate_decisions` (idempotent for the same decision).

    Args:
        warehouse: an open `Warehouse` (left open) or a warehouse URL (opened and closed here).
        decision: what `q2c.gates.evaluate_gate` decided.
    """
    wh, owned = _open(warehouse)
    try:
        ensure_table(wh)
        wh.execute(
            f"insert into {SCHEMA}.{TABLE} (flow, run_id, decided_at, passed, reasons, "
            "validation_id, row_count, held_count) values (?, ?, ?, ?, ?, ?, ?, ?) "
            "on conflict (flow, run_id, decided_at) do nothing",
            [
                decision.flow,
                decision.run_id,
                decision.decided_at,
                decision.passed,
                json.dumps(list(decision.reasons)),
                decision.validation_id,
                decision.row_count,
                len(decision.held),
            ],
        )
    finally:
        if owned:
            wh.close()


def previous_row_count(warehouse: Warehouse, flow: str, *, before_run: str) -> int | None:
    """Rows of `flow`'s last passed batch from another run (None: no batch has passed yet)."""
    if not warehouse.table_exists(SCHEMA, TABLE):
        return None
    row = warehouse.fetchone(
        f"select row_count from {SCHEMA}.{TABLE} where flow = ? and passed "
        "and row_count is not null and run_id <> ? order by decided_at desc limit 1",
        [flow, before_run],
    )
    return None if row is None else int(row[0])


def decisions_of_run(warehouse: Warehouse | str, run_id: str) -> list[GateDecision]:
    """Every decision recorded for `run_id`, oldest first."""
    wh, owned = _open(warehouse)
    try:
        if not wh.table_exists(SCHEMA, TABLE):
            return []
        rows = wh.fetchall(
            f"select flow, run_id, passed, reasons, validation_id, decided_at, row_count "
            f"from {SCHEMA}.{TABLE} where run_id = ? order by decided_at, flow",
            [run_id],
        )
    finally:
        if owned:
            wh.close()
    return [
        GateDecision(
            flow=r[0],
            run_id=r[1],
            passed=bool(r[2]),
            reasons=tuple(json.loads(r[3])),
            validation_id=r[4],
            decided_at=r[5],
            row_count=r[6],
        )
        for r in rows
    ]
