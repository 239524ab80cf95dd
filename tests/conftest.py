"""Shared fixtures: a throwaway PostgreSQL for tests marked `postgres`, temp homes for state."""

from __future__ import annotations

from collections.abc import Iterator

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test names its layer: an unmarked test would be deselected by `make test`'s `-m`."""
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
