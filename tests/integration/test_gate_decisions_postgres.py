"""ops.gate_decisions and the gate's warehouse reads on PostgreSQL: the same DDL, the same
idempotent append, the same previous-batch row count and verdict reasons as on DuckDB."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from q2c.gates import GateDecision, decisions_of_run, record_gate_decision, verdict_reasons
from q2c.gates.decisions import previous_row_count
from q2c.warehouse import Warehouse

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def test_decisions_round_trip_and_bound_the_next_batch_on_postgres(postgres_db: str) -> None:
    refused = GateDecision(
        flow="erp_export",
        run_id="run-1",
        passed=False,
        reasons=("kill switch on: erp_journal_export is paused", "batch: ünïcode reason"),
        validation_id="v-1",
        decided_at=datetime(2026, 12, 5, 1, 0, tzinfo=UTC),
        row_count=12,
    )
    passed = GateDecision("erp_export", "run-2", True, (), "v-2", datetime.now(UTC), 40)
    record_gate_decision(postgres_db, refused)
    record_gate_decision(postgres_db, refused)  # a rerun appends nothing
    record_gate_decision(postgres_db, passed)

    assert decisions_of_run(postgres_db, "run-1") == [refused]
    with Warehouse.from_url(postgres_db) as wh:
        assert previous_row_count(wh, "erp_export", before_run="run-3") == 40
        assert previous_row_count(wh, "erp_export", before_run="run-2") is None
        assert verdict_reasons(wh, "erp_export") == [
            "gate_verdict not built: the reconciliation has not run"
        ]
