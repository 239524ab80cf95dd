"""`q2c warehouse roles apply` on PostgreSQL: an analyst reads the marts and nothing else.

An S warehouse is loaded and built by dbt (as tests/integration/test_dbt_postgres.py does), the
roles are applied through the CLI, and a login user holding only `q2c_analyst` is refused raw,
ops, staging and any column named by the contract's sensitivity section.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from orchestration.cli import app
from q2c.policy import default_contract
from q2c.warehouse import Warehouse
from q2c.warehouse_roles import reapply_roles_if_present, roles_present, sensitive_column_names
from tests.support.raw_from_world import built_warehouse, run_dbt

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture(scope="module")
def roles_warehouse(
    world_s: Path, postgres_server, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, dict]:
    url = postgres_server.create_database("roles_s")
    _, output = built_warehouse(world_s, url, tmp_path_factory.mktemp("roles_dbt"))
    assert "ERROR=0" in output
    with psycopg.connect(url, autocommit=True) as conn:
        # a marts table holding a PII column: the analyst must get its other columns only
        conn.execute("create table marts.probe_contacts (contact_id text, email text)")
        conn.execute("insert into marts.probe_contacts values ('c1', 'ann@example.com')")
        conn.execute("drop role if exists alice_analyst")
        conn.execute("drop role if exists fred_finance")
    result = CliRunner().invoke(
        app, ["warehouse", "roles", "apply", "--json"], env={"Q2C_WAREHOUSE_URL": url}
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create role alice_analyst login in role q2c_analyst")
        conn.execute("create role fred_finance login in role q2c_finance")
    return url, report


def _as(url: str, user: str) -> psycopg.Connection:
    return psycopg.connect(url.replace("://postgres@", f"://{user}@", 1), autocommit=True)


def _refused(conn: psycopg.Connection, sql: str) -> bool:
    try:
        conn.execute(sql).fetchall()
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def test_analyst_reads_marts_but_not_raw_ops_or_pii(roles_warehouse: tuple[str, dict]) -> None:
    url, report = roles_warehouse
    assert report["withheld_columns"]["probe_contacts"] == ["email"]
    with psycopg.connect(url) as conn:
        raw_tables = conn.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema in ('raw', 'ops', 'staging', 'snapshots') order by 1"
        ).fetchall()
        pii = sensitive_column_names(default_contract())
        pii_columns = conn.execute(
            "select table_schema || '.' || table_name, column_name from information_schema.columns"
            " where table_schema not in ('pg_catalog', 'information_schema', 'marts')"
            " and lower(column_name) = any(%s)",
            [sorted(pii)],
        ).fetchall()
    assert any(t[0].startswith("raw.") for t in raw_tables)
    assert pii_columns, "the S world has PII columns outside the marts"
    with _as(url, "alice_analyst") as conn:
        assert conn.execute("select count(*) from marts.fct_invoices").fetchone()[0] > 0
        assert conn.execute("select contact_id from marts.probe_contacts").fetchall() == [("c1",)]
        assert _refused(conn, "select email from marts.probe_contacts")
        assert _refused(conn, "select * from marts.probe_contacts")
        for (relation,) in raw_tables:
            assert _refused(conn, f"select 1 from {relation} limit 1"), relation
        for relation, column in pii_columns:
            assert _refused(conn, f'select "{column}" from {relation} limit 1'), relation
        assert _refused(conn, "select 1 from reconciliation.rec_breaks limit 1")
        assert _refused(conn, "create table marts.mine (x int)")


def test_finance_reads_reconciliation_not_raw(roles_warehouse: tuple[str, dict]) -> None:
    url, _ = roles_warehouse
    with psycopg.connect(url) as conn:
        (raw_table,) = conn.execute(
            "select table_name from information_schema.tables where table_schema = 'raw' limit 1"
        ).fetchone()
    with _as(url, "fred_finance") as conn:
        conn.execute("select count(*) from reconciliation.rec_breaks").fetchone()
        conn.execute("select count(*) from marts.fct_invoices").fetchone()
        assert _refused(conn, f"select 1 from raw.{raw_table} limit 1")


def test_grants_come_back_after_dbt_recreates_a_table(
    roles_warehouse: tuple[str, dict], tmp_path: Path
) -> None:
    """dbt drops and recreates a model's table (its grants go with it); the hook the dbt asset
    calls after each build grants the analyst its columns again."""
    url, _ = roles_warehouse
    run_dbt(["run", "--select", "fct_invoices"], url, tmp_path)
    with _as(url, "alice_analyst") as conn:
        assert _refused(conn, "select count(*) from marts.fct_invoices")
    with Warehouse.from_url(url) as wh:
        report = reapply_roles_if_present(wh, default_contract())
    assert report is not None and "fct_invoices" in report.analyst_columns
    with _as(url, "alice_analyst") as conn:
        assert conn.execute("select count(*) from marts.fct_invoices").fetchone()[0] > 0


def test_no_roles_no_grants(tmp_path: Path) -> None:
    """A warehouse where nobody applied the roles (here embedded DuckDB) is left as it is."""
    with Warehouse.from_url(f"duckdb:///{tmp_path / 'w.duckdb'}") as wh:
        assert not roles_present(wh)
        assert reapply_roles_if_present(wh, default_contract()) is None
