"""Shared fixtures: a throwaway PostgreSQL for tests marked `postgres`, temp homes for state."""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support.postgres import PostgresServer, start_postgres, stop_postgres

pytest_plugins = ["tests.support.sandbox", "tests.support.reliability"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL 15 server for the whole session, started by the suite and stopped after."""
    server = start_postgres()
    try:
        yield server
    finally:
        stop_postgres(server)


T = TypeVar("T")


def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory per test session that every xdist worker sees (beside their own temp
    dirs, so pytest's rotation of old temp dirs removes it)."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    base = tmp_path_factory.getbasetemp()
    shared = base.parent / f"shared-{run}" if run else base / "shared"
    shared.mkdir(exist_ok=True)
    return shared


@pytest.fixture(scope="session", autouse=True)
def _shared_dir_for_helpers(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tell plain helpers (tests/support/raw_from_world.built_warehouse) where it is."""
    os.environ["Q2C_TESTS_SHARED_DIR"] = str(shared_dir(tmp_path_factory))


def shared_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, produce: Callable[[Path], T]
) -> T:
    """`produce(dir)` once per test session, whichever xdist worker asks first; the others wait
    for it and read the pickled result (the pattern pytest-xdist documents for session data).

    Without xdist it is computed once in the session. The result must be picklable and
    what it names under `dir` read-only for its users (copy before writing).
    """
    from filelock import FileLock

    shared = shared_dir(tmp_path_factory)
    done = shared / f"{name}.pickle"
    with FileLock(str(shared / f"{name}.lock")):
        if done.exists():
            return pickle.loads(done.read_bytes())
        result = produce(shared / name)
        try:
            done.write_bytes(pickle.dumps(result))
        except (pickle.PicklingError, TypeError, AttributeError) as err:
            # the others then compute their own (as without sharing), and say why
            print(f"shared_once({name}): not shared, the result does not pickle: {err}")
        return result


@pytest.fixture(scope="session")
def s_pipeline_runs(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two whole-pipeline runs over a copy of the S world, once per session for every worker
    (`tests.support.pipeline.two_runs_over`); take a `private_copy` before opening a warehouse.
    """
    from tests.support.pipeline import two_runs_over

    return shared_once(
        tmp_path_factory, "s_pipeline_runs", lambda root: two_runs_over(world_s, root)
    )


@pytest.fixture
def postgres_db(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> str:
    """A fresh empty database per test; returns its URL."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:50].lower()
    return postgres_server.create_database(name)


@pytest.fixture(autouse=True)
def _no_dagster_state_storage_left_by_another_test() -> None:
    """Each test starts without Dagster's context-wide definitions-state storage.

    Entering a `DagsterInstance` sets that storage for the whole context (it holds the instance
    by weak reference); an instance a fixture or an earlier test entered and never left, or whose
    temporary directory is gone, then breaks the next `Definitions` load ("Attempted to resolve
    undefined DagsterInstance weakref", "unable to open database file"), depending on the order
    the files run in (as under pytest-xdist). q2c keeps no definitions state, so none is needed
    unless a test enters an instance of its own.
    """
    from dagster._core.storage.defs_state import base as defs_state

    defs_state._current_storage.set(None)


LAYER_MARKERS = frozenset({"unit", "integration", "e2e"})

#: the files whose fixtures run a whole pipeline or dbt builds (minutes each by `--durations`),
#: heaviest first: collected first, so pytest-xdist hands them out first (`make test` passes
#: `--no-loadscope-reorder`, which keeps the collection order; xdist's own order, the files with
#: the most tests first, started these few-test files last, leaving one worker alone on them)
HEAVY_FIRST = (
    "tests/e2e/test_pipeline_end_to_end.py",  # makes the shared s_pipeline_runs (two runs)
    "tests/e2e/test_pipeline_messy.py",  # one run, on the other worker meanwhile
    "tests/e2e/test_pipeline_postgres.py",  # then reads s_pipeline_runs without waiting for it
    "tests/reliability/test_crashes.py",
    "tests/integration/test_erp_export.py",
    "tests/e2e/test_pipeline_hostile_data.py",
    "tests/integration/test_dbt_build.py",
    "tests/integration/test_dbt_incremental.py",
    "tests/e2e/test_dbt_dagster_postgres.py",
    "tests/integration/test_dbt_snapshots.py",
    "tests/integration/test_erasure.py",
    "tests/integration/test_warehouse_roles_postgres.py",
    "tests/integration/test_reports_fbar.py",
    "tests/integration/test_messy_reconciliation.py",
    "tests/integration/test_dbt_reconciliation.py",
    "tests/e2e/test_credentials_not_logged.py",
    "tests/e2e/test_dbt_skip_runs.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test names its layer: an unmarked test would be deselected by `make test`'s `-m`.

    The files of `HEAVY_FIRST` go first, in its order; every other keeps its place.
    """
    unmarked = [
        item.nodeid
        for item in items
        if not LAYER_MARKERS & {mark.name for mark in item.iter_markers()}
    ]
    if unmarked:
        raise pytest.UsageError(
            "tests without a unit/integration/e2e marker (set pytestmark in the module):\n  "
            + "\n  ".join(unmarked)
        )
    rank = {path: i for i, path in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
