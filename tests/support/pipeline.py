"""The whole pipeline through Dagster against the stand-ins, as `make demo` runs it (shared by
the e2e tests): a world served by the real stand-ins (with a fault profile or none), the code
location's own definitions built for a DuckDB warehouse under `root`, a temporary Dagster
instance, and the process environment pointing at all of them while the block runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from orchestration.definitions import build_definitions
from orchestration.environment import current_environment
from sandbox.services import start_services


@contextmanager
def pipeline_instance(
    world: Path, root: Path, faults: dict[str, Any] | None = None
) -> Iterator[tuple[dg.Definitions, dg.DagsterInstance, Path]]:
    """Yield (definitions, instance, warehouse path) with the stand-ins running over `world`."""
    warehouse = root / "warehouse.duckdb"
    with start_services(world, faults, root / "sandbox") as sandbox:
        env = {
            **sandbox.env,
            "Q2C_HOME": str(root / "home"),
            "Q2C_WAREHOUSE_URL": f"duckdb:///{warehouse}",
            "DAGSTER_HOME": str(root / "dagster"),
        }
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            defs = build_definitions(current_environment(env))
            (root / "dagster").mkdir()
            with dg.DagsterInstance.local_temp(str(root / "dagster")) as instance:
                yield defs, instance, warehouse
