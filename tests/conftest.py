"""Shared fixtures: a throwaway PostgreSQL for tests marked `postgres`, temp homes for state."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import PostgresServer, start_postgres, stop_postgres

pytest_plugins = ["tests.support.sandbox"]


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
