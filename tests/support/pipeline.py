"""The whole pipeline wired against stand-ins over a world, for end-to-end tests.

`pipeline_against(world, root)` starts the stand-ins over `world`, points the pipeline's
environment at them (with `Q2C_HOME`, a DuckDB warehouse and `DAGSTER_HOME` under `root`, and
whatever else the stand-ins print, e.g. `Q2C_POLICY_FILE` for a company with its own
contract), builds the code location's definitions for that environment and opens a temporary
Dagster instance; the caller runs assets with `orchestration.commands.run.run_assets`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from orchestration.definitions import build_definitions
from orchestration.environment import current_environment
from sandbox.services import RunningSandbox, start_services


@dataclass(frozen=True)
class Pipeline:
    """What an end-to-end test drives: the stand-ins, the definitions, the instance."""

    sandbox: RunningSandbox
    env: dict[str, str]
    defs: dg.Definitions
    instance: dg.DagsterInstance
    warehouse: Path


@contextmanager
def pipeline_against(
    world: Path,
    root: Path,
    faults: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[Pipeline]:
    """The pipeline against stand-ins over `world`, its state under `root` (see the module);
    `env` adds or overrides variables (e.g. `Q2C_POLICY_FILE` for a test's own contract)."""
    extra = env or {}
    warehouse = root / "warehouse.duckdb"
    with start_services(world, faults, root / "sandbox") as sandbox:
        env = {
            **sandbox.env,
            "Q2C_HOME": str(root / "home"),
            "Q2C_WAREHOUSE_URL": f"duckdb:///{warehouse}",
            "DAGSTER_HOME": str(root / "dagster"),
            **extra,
        }
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            defs = build_definitions(current_environment(env))
            (root / "dagster").mkdir()
            with dg.DagsterInstance.local_temp(str(root / "dagster")) as instance:
                yield Pipeline(sandbox, env, defs, instance, warehouse)
