"""`q2c export erp` (and `make demo`'s export) prints entries held by the gate apart from those
held by an open review item: the count line and the per-reason lines."""

from __future__ import annotations

import json

import pytest

from orchestration.commands.export import print_outcome
from q2c.exports.engine import ExportOutcome

pytestmark = pytest.mark.unit


def test_gate_holds_and_review_holds_are_printed_apart(capsys: pytest.CaptureFixture) -> None:
    by_entry = {
        "q2c-invoice-in_1": ["open break erp_amount_mismatch on billing invoice in_1"],
        "q2c-payment-ch_1": ["invoice held: invoice in_1 has open break erp_amount_mismatch"],
        "q2c-invoice-in_2": ["open review item on billing invoice in_2 (q2c review list)"],
    }
    manifest = {
        "held": {"entries": 3, "by_entry": by_entry},
        "file": {"sha256": "ab" * 32},
        "totals_by_currency": {"usd": {"debit": "10.00", "credit": "10.00"}},
    }
    outcome = ExportOutcome(
        partition="2026-01-31", status="sent", batch_id="erp-2026-01-31-1", entries=4,
        held=2, held_for_review=1, manifest=json.dumps(manifest),
    )  # fmt: skip

    print_outcome(outcome)

    out = " ".join(capsys.readouterr().out.split())  # rich wraps at the terminal width
    assert "held by the gate 2, held for review 1" in out
    assert "held: 1 entries with an open erp_amount_mismatch break" in out
    assert "held: 1 payments or refunds of a held invoice" in out
    assert "held: 1 entries an open review item names (q2c review list)" in out
