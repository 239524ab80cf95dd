"""The billing store's queries: filtered lists are driven by their `(object, column)` index."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sandbox.billing.minimal_world import write_minimal_world
from sandbox.billing.store import BillingStore

pytestmark = pytest.mark.unit


def _plan_of_page(store: BillingStore, **kwargs: object) -> str:
    statements: list[str] = []
    conn = store.conn()
    conn.set_trace_callback(statements.append)
    try:
        store.page(**kwargs)  # type: ignore[arg-type]
    finally:
        conn.set_trace_callback(None)
    select = next(s for s in statements if s.startswith("SELECT body"))
    return " ".join(str(r[3]) for r in conn.execute(f"EXPLAIN QUERY PLAN {select}"))


def test_a_parent_filter_uses_the_parent_index_not_a_scan_of_the_type(tmp_path: Path) -> None:
    write_minimal_world(tmp_path)
    store = BillingStore(tmp_path / "billing.sqlite")
    plan = _plan_of_page(
        store,
        object_type="line_item",
        where=[("parent = ?", ["in_1"])],
        limit=100,
        narrow_on="parent",
    )
    assert "objects_parent" in plan


def test_an_unfiltered_page_walks_the_created_index_without_sorting(tmp_path: Path) -> None:
    write_minimal_world(tmp_path)
    store = BillingStore(tmp_path / "billing.sqlite")
    plan = _plan_of_page(
        store, object_type="charge", where=[], limit=100, starting_after=(1_800_000_000, "ch_x")
    )
    assert "objects_created" in plan and "TEMP B-TREE" not in plan


def test_pages_are_newest_first_and_say_whether_more_remain(tmp_path: Path) -> None:
    write_minimal_world(tmp_path)
    store = BillingStore(tmp_path / "billing.sqlite")
    first = store.page(
        "subscription_item", [("parent = ?", ["sub_1"])], limit=1, narrow_on="parent"
    )
    assert first.has_more is True
    assert '"id":"si_1_2"' in first.bodies[0]


def test_a_file_without_the_objects_table_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "billing.sqlite")
    conn.execute("CREATE TABLE meta(key, value)")
    conn.close()
    with pytest.raises(ValueError, match="objects"):
        BillingStore(tmp_path / "billing.sqlite")
    with pytest.raises(FileNotFoundError):
        BillingStore(tmp_path / "nope.sqlite")
