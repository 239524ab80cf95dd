"""The policy seeds dbt reads come from the run's contract: the committed seeds for the shipped
contract, seeds compiled into a work directory for any other company's contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from q2c.policy.dbt_seeds import seeds_dir_for
from q2c.policy.loader import load_contract

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "dbt_project" / "seeds"
MESSY = REPO / "sandbox" / "world" / "profiles" / "messy_ownership.yml"


def test_the_shipped_contract_reads_the_committed_seeds(tmp_path: Path) -> None:
    assert (
        seeds_dir_for(load_contract(REPO / "policy" / "ownership.yml"), COMMITTED, tmp_path) is None
    )
    assert not any(tmp_path.iterdir())


def test_another_contract_gets_its_own_chart_of_accounts(
    tmp_path: Path,
) -> None:
    seeds = seeds_dir_for(load_contract(MESSY), COMMITTED, tmp_path)
    assert seeds is not None and seeds.parent == tmp_path
    names = {p.name for p in seeds.iterdir()}
    assert names == {p.name for p in COMMITTED.glob("policy__*.csv")}
    shipped = (COMMITTED / "policy__gl_accounts.csv").read_text()
    assert (seeds / "policy__gl_accounts.csv").read_text() != shipped
    # written once per contract: a second call answers the same directory
    assert seeds_dir_for(load_contract(MESSY), COMMITTED, tmp_path) == seeds
    assert len(list(tmp_path.iterdir())) == 1
