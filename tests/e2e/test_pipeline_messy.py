"""The whole pipeline through Dagster on the messy S world (sandbox/world/profiles), through the
real stand-ins, with the environment `q2c sandbox up --profile messy` prints (its
Q2C_POLICY_FILE names the messy company's contract). A company q2c was not tuned to: every
asset must materialize, every record must land, and the reconciliation must equal the truth
(tests/support/messy_truth.py groups what is left by the mess that causes it).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import duckdb
import pytest

from orchestration.commands.run import RunSummary, run_assets
from sandbox.world import generate
from sandbox.world.profiles import MESSY
from tests.support.messy_truth import score
from tests.support.pipeline import pipeline_against

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def messy_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One full run over a messy S world: its summary, world and warehouse."""
    root = tmp_path_factory.mktemp("e2e_messy")
    world = root / "world"
    generate(world, seed=7, scale="S", profile="messy")
    with pipeline_against(world, root) as p:
        assert p.env["Q2C_POLICY_FILE"] == str(MESSY.contract)
        summary = run_assets(p.defs, p.instance)
    return {"summary": summary, "world": world, "warehouse": p.warehouse}


def test_every_asset_materializes_on_the_messy_world(messy_run: dict[str, Any]) -> None:
    summary: RunSummary = messy_run["summary"]
    failures = "\n".join(f"{f['step']}: {f['error']}" for f in summary.failed_steps)
    assert summary.success, failures
    # gates may refuse on the injected breaks and stop only the outgoing flows behind them
    # (the write-back and the automations after it); everything else runs
    assert all(
        key.startswith(("writeback/", "automations/")) for key in summary.not_materialized
    ), summary.not_materialized
    assert len(summary.assets) + len(summary.not_materialized) == summary.selected


def test_every_messy_record_lands(messy_run: dict[str, Any]) -> None:
    with sqlite3.connect(messy_run["world"] / "truth.sqlite") as conn:
        counts = conn.execute(
            "select system, object, n from counts where n > 0 and object not like '%:%'"
            " and (system in ('billing', 'salesforce') or object in ('transaction', 'customer'))"
        ).fetchall()
    with duckdb.connect(str(messy_run["warehouse"]), read_only=True) as conn:
        wrong = []
        for system, obj, expected in counts:
            table = f"raw.{system}__{obj.lower()}"
            landed = conn.execute(f"select count(distinct object_id) from {table}").fetchone()[0]
            if landed != expected:
                wrong.append(f"{table}: landed {landed}, the world has {expected}")
    assert not wrong, "\n".join(wrong)


def test_the_messy_reconciliation_equals_the_truth(messy_run: dict[str, Any]) -> None:
    s = score(messy_run["world"], messy_run["warehouse"], listable_events_only=True)
    print(f"messy S end to end:\n{s.report()}")
    assert s.exact, s.report()
