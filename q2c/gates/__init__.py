"""Output gates: nothing leaves q2c (ERP export, CRM write-back, automations) unless its gate
passes.

Contract:
- `FLOWS`: the four outgoing flows; each has an `output_gates.<flow>` entry in the contract.
- `evaluate_gate(flow, batch, contract=..., run_id=..., warehouse=...)` decides for the exact
  batch about to leave, per record first, then for the whole batch:
  - Held records: a record whose objects carry an open break of a kind that concerns the flow
    (`output_gates.<flow>.blocking_break_kinds`; data-quality findings on its `input_systems`)
    is held out of the batch with the reason (`reconciliation.gate_holds`, read by
    `q2c.gates.holds`); `decision.held` names them, the caller sends the rest and records the
    holds ("held by a gate"); a held record goes in a later run once its break is gone.
  - The rest passes only when nothing systemic is wrong:
    (a) no dbt test on the flow's models failed in this run (`failed_tests`, gathered by the
        caller from Dagster's asset check results: the `error` tests of q2c's logic, and the
        `warn` ones on the outgoing model itself such as the ERP chart check),
    (b) the flow's Great Expectations suite (`q2c.gates.suites`) accepts the rows that go,
    (c) `reconciliation.gate_verdict` holds every threshold of the gate's phase, measured over
        the flow's break kinds only (a share of such breaks over the contract's thresholds),
    (d) the rollout flow's kill switch is off, and
    (e) the rollout flow's phase is one of the gate's phases.
  Every failing condition is a reason and refuses the whole batch; a verdict or hold list that
  cannot be read is a reason (fail closed).
- The GE result (JSON and Data Docs HTML) is kept in `$Q2C_HOME/gates/<run_id>/<flow>.json`.
- `record_gate_decision(warehouse, decision)` appends it to `ops.gate_decisions`.
- Callers (the ERP sender, the CRM write-back, the Dagster gate checks) evaluate, record, and
  send only when `decision.passed`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from q2c.gates.decisions import (
    GateDecision,
    decisions_of_run,
    previous_row_count,
    record_gate_decision,
)
from q2c.gates.holds import RECORD_KEY, held_records, split_batch
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
    held: Mapping[str, tuple[str, ...]] | None = None,
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
        held: the flow's held records when the caller read them already (else read here from
            `reconciliation.gate_holds`).

    Returns:
        The decision (not yet recorded: call `record_gate_decision`); `held` names the records
        of `batch` held out of it (the caller sends only the others, and only if `passed`).

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
        if held is None:
            held = held_records(wh, flow)
        if held is None:
            reasons.append("gate_holds not read: which records to hold is unknown")
            held = {}
        going, holding = split_batch(flow, batch, held)
        in_batch = set(holding[RECORD_KEY[flow]].astype(str)) if len(holding) else set()
        previous = previous_row_count(wh, flow, before_run=run_id) if wh is not None else None
        from q2c.gates.suites import SuiteOutcome, validate

        if going.empty:
            # nothing goes (nothing changed, or every record is held): no row to check
            outcome = SuiteOutcome("", True, (), 0, None)
        else:
            outcome = validate(
                flow,
                going,
                contract,
                previous_rows=previous,
                out_dir=evidence_dir(run_id, home),
            )
        reasons += [f"batch: {failure}" for failure in outcome.failures]
        reasons += verdict_reasons(wh, flow)
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
        validation_id=outcome.validation_id or None,
        decided_at=decided_at,
        row_count=outcome.row_count,
        held={k: tuple(held[k]) for k in sorted(in_batch)},
        held_rows=len(holding),
    )


def verdict_reasons(warehouse: Warehouse | None, flow: str) -> list[str]:
    """Why `gate_verdict` does not hold the flow's thresholds (empty when it does)."""
    if warehouse is None:
        return ["gate_verdict not read: no warehouse given"]
    if not warehouse.table_exists("reconciliation", "gate_verdict"):
        return ["gate_verdict not built: the reconciliation has not run"]
    rows = warehouse.fetchall(
        "select phase, metric, currency, break_kind, max_value, measured_value, is_passing "
        "from reconciliation.gate_verdict where flow = ? order by gate_threshold_id",
        [flow],
    )
    if not rows:
        return [f"gate_verdict has no thresholds for {flow}"]
    reasons = []
    for phase, metric, currency, kind, max_value, measured, passing in rows:
        if passing:
            continue
        what = "|".join(p for p in (metric, currency, kind) if p)
        shown = "not measurable" if measured is None else str(measured)
        reasons.append(
            f"gate_verdict {phase} {what} over the flow's break kinds: {shown} > {max_value}"
        )
    return reasons


__all__ = [
    "FLOWS",
    "GateDecision",
    "decisions_of_run",
    "evaluate_gate",
    "evidence_dir",
    "held_records",
    "record_gate_decision",
    "split_batch",
    "verdict_reasons",
]
