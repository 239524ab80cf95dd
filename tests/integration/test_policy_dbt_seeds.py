"""The contract reaches dbt: `dbt build` of the policy seeds (load + their data tests) on DuckDB
(the session's shared S build) and on PostgreSQL, and the loaded tables hold exactly what the
contract compiles to."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import duckdb
import psycopg
import pytest

from q2c.policy import load_contract
from q2c.policy.dbt_seeds import compile_seeds
from tests.support.raw_from_world import built_warehouse

pytestmark = pytest.mark.integration

PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
DBT = Path(sys.executable).with_name("dbt")


def _dbt_build(tmp_path: Path, env: dict[str, str]) -> None:
    # own target/log paths: other dbt runs may share the project directory at the same time
    result = subprocess.run(
        [
            str(DBT),
            "build",
            "--select",
            "policy__*",
            # only tests whose every parent is a policy seed (others' tests join their models)
            "--indirect-selection",
            "cautious",
            "--project-dir",
            str(PROJECT),
            "--profiles-dir",
            str(PROJECT),
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "ERROR=0" in result.stdout


def _expected(name: str) -> list[tuple[str, ...]]:
    header, rows = compile_seeds(load_contract())[name]
    return sorted(tuple(r) for r in rows)


def _as_text(rows: list[tuple]) -> list[tuple[str, ...]]:
    def text(v: object) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)

    return sorted(tuple(text(v) for v in r) for r in rows)


def test_policy_seeds_build_on_duckdb(world_s: Path, tmp_path: Path) -> None:
    # the session's one dbt build of the S world (tests/support) loaded every seed and ran
    # every data test, the seeds' included, and failed on an error: read its copy
    db = tmp_path / "warehouse.duckdb"
    built_warehouse(world_s, f"duckdb:///{db}", tmp_path / "dbt")
    con = duckdb.connect(str(db), read_only=True)
    for name in compile_seeds(load_contract()):
        rows = con.execute(f"select * from policy.{name}").fetchall()
        assert _as_text(rows) == _expected(name), name
    threshold = con.execute(
        "select max_value from policy.policy__reconciliation_thresholds "
        "where phase = 'automation' and metric = 'break_rate_bps'"
    ).fetchone()
    assert threshold == (50,)  # typed as an integer, not text


@pytest.mark.postgres
def test_policy_seeds_build_on_postgres(tmp_path: Path, postgres_db: str) -> None:
    url = urlparse(postgres_db)
    _dbt_build(
        tmp_path,
        {
            "Q2C_DBT_TARGET": "postgres",
            "Q2C_PG_HOST": url.hostname or "127.0.0.1",
            "Q2C_PG_PORT": str(url.port),
            "Q2C_PG_USER": url.username or "postgres",
            "Q2C_PG_PASSWORD": url.password or "",
            "Q2C_PG_DATABASE": url.path.lstrip("/"),
        },
    )
    with psycopg.connect(postgres_db) as conn:
        ws = conn.execute(
            "select field_api_name, match_on, keep_losing_value from policy.policy__write_set"
        ).fetchall()
        assert sorted(ws) == sorted(
            (r[3], r[7], r[10] == "true")
            for r in compile_seeds(load_contract())["policy__write_set"][1]
        )
        owners = conn.execute("select count(*) from policy.policy__field_owners").fetchone()
        assert owners == (len(_expected("policy__field_owners")),)
