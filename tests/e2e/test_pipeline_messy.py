"""The whole pipeline through Dagster on the messy S world (sandbox/world/profiles), through the
real stand-ins, with the environment `q2c sandbox up --profile messy` prints (its
Q2C_POLICY_FILE names the messy company's contract). A company q2c was not tuned to: every
asset must materialize, every record must land, and the reconciliation must equal the truth
(tests/support/messy_truth.py groups what is left by the mess that causes it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import dagster as dg
import duckdb
import pytest

from orchestration.commands.run import RunSummary, run_assets
from orchestration.definitions import build_definitions
from orchestration.environment import current_environment
from sandbox.services import start_services
from sandbox.world import generate
from sandbox.world.profiles import MESSY
from tests.support.messy_truth import score

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def messy_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One full run over a messy S world; yields its summary, world and warehouse."""
    root = tmp_path_factory.mktemp("e2e_messy")
    world = root / "world"
    generate(world, seed=7, scale="S", profile="messy")
    warehouse = root / "warehouse.duckdb"
    with start_services(world, None, root / "sandbox") as sandbox:
        env = {
            **sandbox.env,
            "Q2C_HOME": str(root / "home"),
            "Q2C_WAREHOUSE_URL": f"duckdb:///{warehouse}",
            "DAGSTER_HOME": str(root / "dagster"),
        }
        assert env["Q2C_POLICY_FILE"] == str(MESSY.contract)
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            defs = build_definitions(current_environment(env))
            (root / "dagster").mkdir()
            with dg.DagsterInstance.local_temp(str(root / "dagster")) as instance:
                summary = run_assets(defs, instance)
    yield {"summary": summary, "world": world, "warehouse": warehouse}


def test_every_asset_materializes_on_the_messy_world(messy_run: dict[str, Any]) -> None:
    summary: RunSummary = messy_run["summary"]
    failures = "\n".join(f"{f['step']}: {f['error']}" for f in summary.failed_steps)
    assert summary.success, failures
    assert len(summary.assets) == summary.selected


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
    s = score(messy_run["world"], messy_run["warehouse"])
    print(f"messy S end to end:\n{s.report()}")
    assert s.exact, s.report()
