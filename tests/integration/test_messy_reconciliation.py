"""rec_* on a company q2c was not tuned to: the messy S world (sandbox/world/profiles), loaded by
the test loader and built with its own contract (sandbox/world/profiles/messy_ownership.yml:
its policy seeds compiled into a copy of the dbt project, its mapping passed as dbt vars).

Done when the reconciliation finds every injected break and nothing else (recall = precision
= 100%), every break carries `match_method` and `confidence`, and the data-quality findings
are exactly the injected data problems (`truth.dq_problems`). The failure message groups
what is left by the mess that causes it (tests/support/messy_truth.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from q2c.policy.dbt_seeds import dbt_vars, write_seeds
from q2c.policy.loader import load_contract
from sandbox.world import generate
from sandbox.world.profiles import MESSY
from tests.support.messy_truth import Score, score
from tests.support.raw_from_world import DBT_PROJECT_DIR, load_raw_from_world, run_dbt

pytestmark = pytest.mark.integration


def company_project(contract_path: Path, dest: Path) -> tuple[Path, list[str]]:
    """A copy of the dbt project whose policy seeds are compiled from `contract_path`, and the
    `--vars` argument that passes the contract's dbt vars."""
    shutil.copytree(
        DBT_PROJECT_DIR, dest, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    contract = load_contract(contract_path)
    write_seeds(contract, dest / "seeds")
    return dest, ["--vars", json.dumps(dbt_vars(contract), sort_keys=True)]


@pytest.fixture(scope="module")
def messy_s(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int, str]:
    """(messy S world, its built DuckDB warehouse, dbt's exit code, dbt's output)."""
    root = tmp_path_factory.mktemp("messy_s")
    world = root / "world"
    generate(world, seed=7, scale="S", profile="messy")
    db = root / "warehouse.duckdb"
    url = f"duckdb:///{db}"
    load_raw_from_world(world, url)
    project, var_args = company_project(MESSY.contract, root / "dbt_project")
    # dbt's unit tests are fixed inputs, run once by the S build (tests/support built_warehouse)
    build = ["build", "--exclude-resource-type", "unit_test", *var_args]
    code, out = run_dbt(build, url, root / "dbt", check=False, project_dir=project)
    return world, db, code, out


@pytest.fixture(scope="module")
def messy_score(messy_s: tuple[Path, Path, int, str]) -> Score:
    world, db, _, out = messy_s
    assert db.exists() and "rec_breaks" in out, out[-3000:]
    return score(world, db)


def test_the_messy_world_builds_with_its_contract(messy_s: tuple[Path, Path, int, str]) -> None:
    _, _, code, out = messy_s
    assert code == 0, out[-6000:]


def test_the_messy_worlds_breaks_are_exactly_its_injected_discrepancies(
    messy_score: Score,
) -> None:
    s = messy_score
    print(f"messy S: {s.report()}")
    assert not s.misses and not s.false_positives, s.report()


def test_every_messy_break_carries_its_match_method_and_confidence(messy_score: Score) -> None:
    assert messy_score.found and messy_score.without_method == 0, messy_score.report()


def test_data_quality_findings_are_the_injected_data_problems(messy_score: Score) -> None:
    assert messy_score.dq_truth, "the messy world injects data problems"
    assert messy_score.dq_truth == messy_score.dq_found, messy_score.report()


def test_invoices_finance_keyed_by_hand_are_not_exported_again(
    messy_s: tuple[Path, Path, int, str],
) -> None:
    """The export leaves out every invoice the ERP already holds through a hand-keyed posting
    (no external id: matched by document number, memo, content or rule), or it would post the
    receivable a second time."""
    import sqlite3

    import duckdb

    world, db, _, _ = messy_s
    truth = sqlite3.connect(world / "truth.sqlite")
    try:
        hand_keyed = {
            json.loads(ids)["invoice"]
            for (ids,) in truth.execute(
                "select object_ids from mess where kind = 'hand_keyed_posting'"
            )
        }
    finally:
        truth.close()
    con = duckdb.connect(str(db), read_only=True)
    try:
        exported = {
            r[0]
            for r in con.execute(
                "select distinct billing_id from exports.export_erp_journal_lines"
                " where entry_kind = 'invoice'"
            ).fetchall()
        }
    finally:
        con.close()
    assert hand_keyed and exported, (len(hand_keyed), len(exported))
    assert not hand_keyed & exported, sorted(hand_keyed & exported)[:10]
