"""The inputs of the dbt skip key (q2c/dbt_skip.py) on real DuckDB and PostgreSQL: a relation's
fingerprint changes with any in-place change of a row (not only the count), leaves a landing
table's `payload` to its `payload_hash`, and counts a missing relation as an empty one; the
whole-project digest changes with any file of the project, not only staging; the relations
read come from the manifest (sources and `adapter.get_relation`), and the latest build decides.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from q2c import dbt_skip
from q2c.warehouse import Warehouse

pytestmark = pytest.mark.integration

PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"


def _fingerprints_follow_content(url: str) -> None:
    with Warehouse.from_url(url) as wh:
        wh.ensure_schema("ops")
        assert dbt_skip.relation_fingerprint(wh, "ops", "ledger") == "0:0"  # missing
        wh.execute(
            "create table ops.ledger (id text, status text, payload text, payload_hash text)"
        )
        empty = dbt_skip.relation_fingerprint(wh, "ops", "ledger")
        assert empty == "0:0"  # empty reads as missing
        wh.execute(
            "insert into ops.ledger values ('a', 'posted', '{}', 'h1'), ('b', null, '{}', 'h2')"
        )
        two = dbt_skip.relation_fingerprint(wh, "ops", "ledger")
        assert two.startswith("2:") and two != empty
        wh.execute("update ops.ledger set status = 'rejected' where id = 'a'")  # same count
        changed = dbt_skip.relation_fingerprint(wh, "ops", "ledger")
        assert changed.startswith("2:") and changed != two
        wh.execute("update ops.ledger set payload = '{\"x\": 1}' where id = 'a'")
        assert dbt_skip.relation_fingerprint(wh, "ops", "ledger") == changed  # its hash stands
        wh.execute("update ops.ledger set payload_hash = 'h3' where id = 'a'")
        assert dbt_skip.relation_fingerprint(wh, "ops", "ledger") != changed
        wh.execute("update ops.ledger set status = null where id = 'b'")  # no-op update
        key = dbt_skip.skip_key(wh, "p", [("ops", "ledger")])
        assert key == dbt_skip.skip_key(wh, "p", [("ops", "ledger")])
        assert key != dbt_skip.skip_key(wh, "q", [("ops", "ledger")])

        now = datetime(2026, 12, 5, tzinfo=UTC)
        dbt_skip.begin_build(wh, run_id="r1", key=key, now=now)
        assert dbt_skip.unchanged_build(wh, key) is None  # started, not finished
        dbt_skip.finish_build(wh, run_id="r1", test_results={"test.q2c.t": ["warn", 3]})
        last = dbt_skip.unchanged_build(wh, key)
        assert last is not None and last.run_id == "r1"
        assert last.test_results == {"test.q2c.t": ["warn", 3]}
        assert dbt_skip.unchanged_build(wh, "other") is None
        # a later build that never finished (failed, killed): the next one builds
        dbt_skip.begin_build(wh, run_id="r2", key=key, now=now + timedelta(minutes=1))
        assert dbt_skip.unchanged_build(wh, key) is None
        assert dbt_skip.missing_relations(wh, [("ops", "ledger"), ("ops", "gone")]) == ["ops.gone"]


def test_fingerprints_follow_content_on_duckdb(tmp_path: Path) -> None:
    _fingerprints_follow_content(f"duckdb:///{tmp_path / 'w.duckdb'}")


@pytest.mark.postgres
def test_fingerprints_follow_content_on_postgres(postgres_db: str) -> None:
    _fingerprints_follow_content(postgres_db)


def test_project_digest_covers_every_file_vars_and_contract_seeds(tmp_path: Path) -> None:
    copy = tmp_path / "dbt_project"
    shutil.copytree(PROJECT, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    base = dbt_skip.whole_project_digest(copy, {"v": 1})
    assert dbt_skip.whole_project_digest(copy, {"v": 1}) == base
    assert dbt_skip.whole_project_digest(copy, {"v": 2}) != base
    seeds = tmp_path / "seeds"
    shutil.copytree(copy / "seeds", seeds)
    with_seeds = dbt_skip.whole_project_digest(copy, {"v": 1}, seeds)
    (seeds / "policy__rules.csv").write_text("changed\n")
    assert dbt_skip.whole_project_digest(copy, {"v": 1}, seeds) != with_seeds
    for name in ("models/marts/fct_invoices.sql", "tests/assert_erp_transactions_balance.sql"):
        path = copy / name
        original = path.read_text()
        path.write_text(original + "\n-- changed\n")
        assert dbt_skip.whole_project_digest(copy, {"v": 1}) != base, name
        path.write_text(original)
    assert dbt_skip.whole_project_digest(copy, {"v": 1}) == base


def test_reads_are_the_manifest_sources_and_get_relation_calls() -> None:
    manifest = {
        "metadata": {"project_name": "q2c"},
        "sources": {
            "source.q2c.ops.export_ledger": {
                "source_name": "ops",
                "name": "export_ledger",
                "schema": "ops",
                "identifier": "export_ledger",
            },
            "source.q2c.compliance.holds": {
                "source_name": "compliance",
                "name": "holds",
                "schema": "reconciliation",
                "identifier": "compliance_holds",
            },
        },
        "nodes": {
            "model.q2c.a": {
                "package_name": "q2c",
                "raw_code": "{% set q = adapter.get_relation(database=target.database,"
                " schema='ops', identifier='quarantine') %}",
            },
            "model.q2c.b": {
                "package_name": "q2c",
                "raw_code": "{%- set h = source('compliance', 'holds') -%}{%- set r ="
                " adapter.get_relation(database=h.database, schema=h.schema,"
                " identifier=h.identifier) -%}",
            },
        },
        "macros": {
            "macro.dbt.x": {"package_name": "dbt", "macro_sql": "adapter.get_relation(this)"}
        },
    }
    reads, unresolved = dbt_skip.read_relations(manifest)
    assert reads == [
        ("ops", "export_ledger"),
        ("ops", "quarantine"),
        ("reconciliation", "compliance_holds"),
    ]
    assert unresolved == []
    manifest["nodes"]["model.q2c.c"] = {
        "package_name": "q2c",
        "raw_code": "{% set r = adapter.get_relation(schema=var('s'), identifier='t') %}",
    }
    assert dbt_skip.read_relations(manifest)[1] == ["model.q2c.c"]


def test_the_shipped_manifest_reads_resolve() -> None:
    from orchestration.assets.dbt import q2c_dbt_project

    manifest = json.loads(q2c_dbt_project().manifest_path.read_text())
    reads, unresolved = dbt_skip.read_relations(manifest)
    assert unresolved == []
    assert {("ops", "export_ledger"), ("ops", "quarantine")} <= set(reads)
    assert ("reconciliation", "compliance_holds") in reads
    assert sum(1 for schema, _ in reads if schema == "raw") >= 30
