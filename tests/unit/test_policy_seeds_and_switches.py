"""The committed dbt seeds equal the contract compiled; kill switches pause one write path."""

from __future__ import annotations

from pathlib import Path

import pytest

from q2c.policy import is_paused, load_contract, may_write, pause, paused_flows, resume
from q2c.policy.dbt_seeds import compile_seeds, dbt_vars, render_csv, write_seeds

pytestmark = pytest.mark.unit

SEEDS = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds"


def test_committed_seeds_equal_what_the_contract_compiles_to() -> None:
    compiled = compile_seeds(load_contract())
    committed = {p.stem for p in SEEDS.glob("policy__*.csv")}
    assert committed == set(compiled), "run `q2c policy compile`"
    for name, table in compiled.items():
        assert (SEEDS / f"{name}.csv").read_text(encoding="utf-8") == render_csv(table), name


def test_seed_yaml_documents_every_seed() -> None:
    # the seeds' properties live beside the models: the seed directory can be another one
    # (a company's own contract compiled under $Q2C_HOME, q2c.policy.dbt_seeds.seeds_dir_for)
    text = (SEEDS.parent / "models" / "policy" / "_policy__seeds.yml").read_text()
    for name in compile_seeds(load_contract()):
        assert f"- name: {name}\n" in text


def test_compiled_seeds_carry_write_set_thresholds_and_accounts() -> None:
    seeds = compile_seeds(load_contract())
    header, rows = seeds["policy__write_set"]
    ws = [dict(zip(header, r, strict=True)) for r in rows]
    mrr = next(r for r in ws if r["field_api_name"] == "MRR__c")
    assert (mrr["match_on"], mrr["owner"], mrr["winner"]) == (
        "Billing_Customer_Id__c",
        "billing",
        "owner_wins",
    )
    header, rows = seeds["policy__reconciliation_thresholds"]
    th = {(r[0], r[1], r[2], r[3]): int(r[4]) for r in rows}
    assert th[("automation", "open_breaks", "", "erp_duplicate_posting")] == 0
    assert (
        th[("controlled_writes", "break_rate_bps", "", "")]
        > th[("automation", "break_rate_bps", "", "")]
    )
    settings = dict(seeds["policy__settings"][1])
    assert settings["writeback_max_receive_count"] == "5"


def test_write_seeds_removes_stale_policy_seeds(tmp_path: Path) -> None:
    (tmp_path / "policy__old.csv").write_text("a\n")
    (tmp_path / "other.csv").write_text("a\n")
    write_seeds(load_contract(), tmp_path)
    assert not (tmp_path / "policy__old.csv").exists()
    assert (tmp_path / "other.csv").exists()
    assert (tmp_path / "policy__write_set.csv").exists()


def test_pause_stops_one_write_flow_and_resume_restores_it(tmp_path: Path) -> None:
    assert may_write("crm_account_enrichment", home=tmp_path)
    pause("crm_account_enrichment", "bad MRR run", by="ops", home=tmp_path)
    assert is_paused("crm_account_enrichment", home=tmp_path)
    assert not may_write("crm_account_enrichment", home=tmp_path)
    assert may_write("erp_journal_export", home=tmp_path)
    assert paused_flows(home=tmp_path)["crm_account_enrichment"]["reason"] == "bad MRR run"
    assert resume("crm_account_enrichment", home=tmp_path) is True
    assert resume("crm_account_enrichment", home=tmp_path) is False
    assert may_write("crm_account_enrichment", home=tmp_path)


def test_read_only_flows_never_write_and_ingestion_cannot_be_paused(tmp_path: Path) -> None:
    contract = load_contract()
    rollout = dict(contract.rollout)
    rollout["support_case_priority"] = rollout["support_case_priority"].model_copy(
        update={"phase": "read_only"}
    )
    read_only = contract.model_copy(update={"rollout": rollout})
    assert not may_write("support_case_priority", home=tmp_path, contract=read_only)
    with pytest.raises(ValueError, match="ingestion keeps running"):
        pause("ingest_crm", home=tmp_path)
    with pytest.raises(ValueError, match="unknown flow 'crm_acount_enrichment'"):
        pause("crm_acount_enrichment", home=tmp_path)


def test_a_corrupt_store_is_an_error_not_an_unpaused_flow(tmp_path: Path) -> None:
    (tmp_path / "kill_switches.json").write_text("[]")
    with pytest.raises(ValueError, match="not a kill-switch store"):
        is_paused("crm_account_enrichment", home=tmp_path)


def test_dbt_project_var_defaults_equal_what_the_contract_decides() -> None:
    import yaml

    project = yaml.safe_load((SEEDS.parent / "dbt_project.yml").read_text())
    defaults = project.get("vars", {})
    decided = dbt_vars(load_contract())
    shared = set(defaults) & set(decided)
    assert {"q2c_billing_status_precedence", "q2c_mrr_statuses", "q2c_dunning_statuses"} <= shared
    assert {k: defaults[k] for k in shared} == {k: decided[k] for k in shared}
