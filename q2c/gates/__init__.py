"""Output gates: nothing leaves q2c (ERP export, CRM write-back, automations) unless its gate
passes.

Contract:
- `FLOWS`: the four outgoing flows; each has an `output_gates.<flow>` entry in the contract.
- `evaluate_gate(flow, batch, contract=..., run_id=..., warehouse=...)` decides for the exact
  batch about to leave. It passes only when
  (a) no dbt test on the flow's models failed in this run (`failed_tests`, gathered by the
      caller from Dagster's asset check results: the `error` tests of q2c's logic, and the
      `warn` ones on the outgoing model itself such as the ERP chart check),
  (b) the flow's Great Expectations suite (`q2c.gates.suites`) accepts the batch,
  (c) `reconciliation.rec_verdict` holds every threshold the gate names, and
      `reconciliation.dq_findings` has no finding on the gate's `input_systems`,
  (d) the rollout flow's kill switch is off, and
  (e) the rollout flow's phase is one of the gate's phases.
  Every failing condition is a reason; an unreadable verdict is a reason (fail closed).
- The GE result (JSON and Data Docs HTML) is kept in `$Q2C_HOME/gates/<run_id>/<flow>.json`.
- `record_gate_decision(warehouse, decision)` appends it to `ops.gate_decisions`.
- Callers (the ERP sender, the CRM write-back, the Dagster gate checks) evaluate, record, and
  send only when `decision.passed`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from q2c.gates.decisions import (
    GateDecision,
    decisions_of_run,
    previous_row_count,
    record_gate_decision,
)
from q2c.policy.kill_switch import is_paused
from q2c.settings import load_settings
from q2c.warehouse import Warehouse

if TYPE_CHECKING:
    import pandas as pd

    from q2c.policy.model import Contract

FLOWS = ("erp_export", "crm_account_sync", "crm_case_sync", "automations")

_SAFE_RUN_ID = re.compile(r"[^A-Za-z0-9_.-]")


def gate_home(home: Path | None = None) -> Path:
    """Where gate evidence is kept: `<home>/gates` (default home: `$Q2C_HOME`, else `.q2c`)."""
    return (home or load_settings().home) / "gates"


def evidence_dir(run_id: str, home: Path | None = None) -> Path:
    """The directory holding one run's GE validation results."""
    return gate_home(home) / _SAFE_RUN_ID.sub("_", run_id)


def evaluate_gate(
    flow: str,
    batch: pd.DataFrame,
    *,
    contract: Contract,
    run_id: str,
    warehouse: Warehouse | str | None = None,
    failed_tests: Sequence[str] = (),
    home: Path | None = None,
) -> GateDecision:
    """Decide whether `batch` may leave through `flow` in run `run_id`.

    Args:
        flow: one of `FLOWS`.
        batch: the exact rows about to be sent (see `q2c.gates.suites` for each flow's shape).
        contract: the ownership contract (`output_gates`, `rollout`, write set, thresholds).
        run_id: the run that sends (Dagster run id, or the caller's own id).
        warehouse: a `Warehouse` or warehouse URL to read `rec_verdict` and the previous
            batch's row count; None fails the verdict condition (it cannot be read).
        failed_tests: names of the dbt tests on the flow's models that failed in this run.
        home: q2c's state directory (kill switches, evidence); default `$Q2C_HOME` or `.q2c`.

    Returns:
        The decision (not yet recorded: call `record_gate_decision`).

    Raises:
        ValueError: `flow` is not one of `FLOWS`.
    """
    if flow not in FLOWS:
        raise ValueError(f"unknown flow {flow!r}; gates exist for: {', '.join(FLOWS)}")
    decided_at = datetime.now(UTC)
    gate = contract.output_gates.get(flow)
    if gate is None:
        return GateDecision(
            flow, run_id, False, (f"the contract has no output_gates.{flow}",), None, decided_at
        )
    reasons = [f"error test failed on the flow's models: {name}" for name in failed_tests]

    wh: Warehouse | None = None
    owned = False
    if isinstance(warehouse, str):
        wh, owned = Warehouse.from_url(warehouse), True
    elif warehouse is not None:
        wh = warehouse
    try:
        previous = previous_row_count(wh, flow, before_run=run_id) if wh is not None else None
        from q2c.gates.suites import validate

        outcome = validate(
            flow,
            batch,
            contract,
            previous_rows=previous,
            out_dir=evidence_dir(run_id, home),
        )
        reasons += [f"batch: {failure}" for failure in outcome.failures]
        reasons += verdict_reasons(wh, gate.thresholds)
        reasons += finding_reasons(wh, gate.input_systems)
    finally:
        if owned and wh is not None:
            wh.close()

    flow_spec = contract.rollout[gate.rollout_flow]
    if is_paused(gate.rollout_flow, home=home):
        reasons.append(f"kill switch on: {gate.rollout_flow} is paused")
    if flow_spec.phase not in gate.phases:
        reasons.append(
            f"rollout phase {flow_spec.phase} of {gate.rollout_flow} does not allow {flow} "
            f"(allowed: {', '.join(gate.phases)})"
        )
    return GateDecision(
        flow=flow,
        run_id=run_id,
        passed=not reasons,
        reasons=tuple(reasons),
        validation_id=outcome.validation_id,
        decided_at=decided_at,
        row_count=outcome.row_count,
    )


def verdict_reasons(warehouse: Warehouse | None, thresholds: str) -> list[str]:
    """Why `rec_verdict` does not hold the `thresholds` phase (empty when it does)."""
    if warehouse is None:
        return ["rec_verdict not read: no warehouse given"]
    if not warehouse.table_exists("reconciliation", "rec_verdict"):
        return ["rec_verdict not built: the reconciliation has not run"]
    rows = warehouse.fetchall(
        "select metric, currency, break_kind, max_value, measured_value, is_passing "
        "from reconciliation.rec_verdict where phase = ? order by threshold_id",
        [thresholds],
    )
    if not rows:
        return [f"rec_verdict has no thresholds for {thresholds}"]
    reasons = []
    for metric, currency, kind, max_value, measured, passing in rows:
        if passing:
            continue
        what = "|".join(p for p in (metric, currency, kind) if p)
        shown = "not measurable" if measured is None else str(measured)
        reasons.append(f"rec_verdict {thresholds} {what}: {shown} > {max_value}")
    return reasons


def finding_reasons(warehouse: Warehouse | None, systems: Sequence[str]) -> list[str]:
    """The data-quality findings on the flow's input systems, counted per check (no values)."""
    if warehouse is None or not systems:
        return []
    if not warehouse.table_exists("reconciliation", "dq_findings"):
        return ["dq_findings not built: the input checks have not run"]
    marks = ", ".join("?" for _ in systems)
    rows = warehouse.fetchall(
        "select system, check_name, count(*) from reconciliation.dq_findings "
        f"where system in ({marks}) group by system, check_name order by system, check_name",
        list(systems),
    )
    return [
        f"data-quality finding on {system} input: {check} ({n} rows)" for system, check, n in rows
    ]


__all__ = [
    "FLOWS",
    "GateDecision",
    "decisions_of_run",
    "evaluate_gate",
    "evidence_dir",
    "finding_reasons",
    "record_gate_decision",
    "verdict_reasons",
]
