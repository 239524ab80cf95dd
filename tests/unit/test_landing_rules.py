"""One home per landing rule: the dbt project and the test loader agree with `q2c.landing`.

- The raw table: the dbt on-run-start hook (`create_landing_tables`, rendered here with Jinja as
  dbt renders it) creates the same columns, types, nullability and defaults as
  `q2c.landing.raw_table_ddl`, on a real DuckDB.
- The latest landed version: staging's `latest_version` macro orders versions exactly as
  `q2c.landing.LATEST_VERSION_ORDER`, and `latest_versions_sql` picks the same row.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import jinja2
import pytest

from q2c.landing import latest_version_order, latest_versions_sql, raw_table_ddl

pytestmark = pytest.mark.unit

MACROS = Path(__file__).resolve().parents[2] / "dbt_project" / "macros"


def _render_landing_hook(target_type: str) -> list[str]:
    """The statements `create_landing_tables` runs for one raw source table."""
    statements: list[str] = []
    env = jinja2.Environment(extensions=["jinja2.ext.do"])
    module = env.from_string((MACROS / "landing_tables.sql").read_text()).make_module(
        {
            "execute": True,
            "target": SimpleNamespace(type=target_type),
            "graph": {
                "sources": {
                    "source.q2c.billing.invoice": SimpleNamespace(
                        source_name="billing", schema="raw", identifier="billing__invoice"
                    )
                }
            },
            "run_query": statements.append,
        }
    )
    module.create_landing_tables()
    return [s for s in statements if "billing__invoice" in s]


def _columns(con: Any, table: str) -> list[tuple[Any, ...]]:
    return con.execute(
        "select column_name, data_type, is_nullable, column_default"
        " from information_schema.columns where table_schema = 'raw' and table_name = ?"
        " order by ordinal_position",
        [table],
    ).fetchall()


def test_the_dbt_hook_creates_the_raw_table_q2c_landing_creates() -> None:
    (hook_ddl,) = _render_landing_hook("duckdb")
    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute(hook_ddl.replace("raw.billing__invoice", "raw.from_hook"))
    con.execute(raw_table_ddl("raw.from_landing", "json"))
    assert _columns(con, "from_hook") == _columns(con, "from_landing")
    assert ("is_deleted", "BOOLEAN", "NO", "false") in _columns(con, "from_hook")


def test_on_postgres_the_dbt_hook_adds_the_object_id_index_as_the_landing_does() -> None:
    ddl, index = _render_landing_hook("postgres")
    assert ddl == raw_table_ddl("raw.billing__invoice", "jsonb")
    assert index == "create index if not exists billing__invoice__object_id_ix on " + (
        "raw.billing__invoice (object_id)"
    )


def _order_by_lists(sql: str) -> list[str]:
    found = re.findall(r"order by(.*?)\)", sql, flags=re.S)
    return [" ".join(part.replace("raw_rows.", "").split()) for part in found]


def test_stagings_latest_version_orders_as_q2c_landing() -> None:
    orders = _order_by_lists((MACROS / "latest_version.sql").read_text())
    assert orders and set(orders) == {latest_version_order()}


def test_latest_versions_sql_picks_newest_then_provider_ref_then_hash() -> None:
    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute(raw_table_ddl("raw.t", "json"))
    t0, t1 = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    rows = [
        ("a", "r1", "h1", False, t0),
        ("a", "r2", "h2", True, t1),  # newest
        ("b", "r1", "h9", True, t1),
        ("b", "r2", "h1", False, t1),  # same instant: the newer provider_ref wins
        ("c", None, "h1", False, t1),
        ("c", None, "h2", False, t1),  # same instant, no ref: the larger hash wins
    ]
    for object_id, ref, digest, deleted, at in rows:
        con.execute(
            "insert into raw.t values (?, ?, '{}', ?, ?, ?, 'run')",
            [object_id, ref, digest, deleted, at],
        )
    picked = con.execute(
        f"select object_id, payload_hash from ({latest_versions_sql('raw.t')}) order by 1"
    ).fetchall()
    assert picked == [("a", "h2"), ("b", "h1"), ("c", "h2")]
