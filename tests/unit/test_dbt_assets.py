"""The pure parts of the dbt Dagster assets: CLI arguments, target environment, asset keys."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from orchestration.assets.dbt import (
    asset_key_for,
    dbt_assets_list,
    dbt_build_args,
    dbt_environment,
    group_for,
)

pytestmark = pytest.mark.unit


def test_build_args_default_builds_without_unit_tests() -> None:
    assert dbt_build_args() == ["build", "--exclude-resource-type", "unit_test"]


def test_build_args_full_refresh_and_vars_are_appended_with_sorted_json() -> None:
    args = dbt_build_args(full_refresh=True, dbt_vars={"b": 2, "a": "x"})
    assert args[:4] == ["build", "--exclude-resource-type", "unit_test", "--full-refresh"]
    assert args[4] == "--vars"
    assert args[5] == '{"a": "x", "b": 2}'
    assert json.loads(args[5]) == {"a": "x", "b": 2}


def test_environment_for_a_duckdb_url_is_an_absolute_path(tmp_path) -> None:
    env = dbt_environment(f"duckdb:///{tmp_path}/w.duckdb")
    assert env == {"Q2C_DBT_TARGET": "duckdb", "Q2C_DUCKDB_PATH": f"{tmp_path}/w.duckdb"}


def test_environment_for_a_postgres_url_splits_every_part_and_unquotes() -> None:
    env = dbt_environment("postgresql://fin%40ops:p%2Fw@db.internal:6543/ware")
    assert env == {
        "Q2C_DBT_TARGET": "postgres",
        "Q2C_PG_HOST": "db.internal",
        "Q2C_PG_PORT": "6543",
        "Q2C_PG_USER": "fin@ops",
        "Q2C_PG_PASSWORD": "p/w",
        "Q2C_PG_DATABASE": "ware",
    }


def test_environment_for_postgres_defaults_port_and_empty_password() -> None:
    env = dbt_environment("postgres://postgres@127.0.0.1/q2c")
    assert env["Q2C_PG_PORT"] == "5432"
    assert env["Q2C_PG_PASSWORD"] == ""


def test_environment_refuses_a_postgres_url_without_database() -> None:
    with pytest.raises(ValueError, match="names no database"):
        dbt_environment("postgresql://u@h:5432/")


def test_environment_refuses_an_unknown_scheme() -> None:
    with pytest.raises(ValueError, match="unsupported warehouse URL scheme"):
        dbt_environment("sqlite:///x.db")


def test_raw_sources_are_keyed_under_raw_source_object() -> None:
    props = {"resource_type": "source", "source_name": "billing", "name": "invoice"}
    assert asset_key_for(props) == dg.AssetKey(["raw", "billing", "invoice"])


def test_the_export_ledger_is_keyed_under_ops() -> None:
    props = {"resource_type": "source", "source_name": "ops", "name": "export_ledger"}
    assert asset_key_for(props) == dg.AssetKey(["ops", "export_ledger"])


def test_models_are_keyed_and_grouped_by_their_layer_schema() -> None:
    props = {"resource_type": "model", "name": "fct_invoices", "config": {"schema": "marts"}}
    assert asset_key_for(props) == dg.AssetKey(["marts", "fct_invoices"])
    assert group_for(props) == "marts"


def test_the_assets_cover_marts_and_reconciliation_and_depend_on_raw_tables() -> None:
    (assets,) = dbt_assets_list
    keys = {k.to_user_string() for k in assets.keys}
    deps = {k.to_user_string() for k in assets.dependency_keys}
    assert "staging/stg_billing__invoices" in keys
    assert "raw/billing/invoice" in deps
    assert "raw/salesforce/account" in deps


def test_only_nodes_dbt_could_not_build_fail_the_step() -> None:
    from orchestration.assets.dbt import errored_build_nodes

    results = {
        "results": [
            {"unique_id": "model.q2c.rec_breaks", "status": "success"},
            {"unique_id": "model.q2c.sync_x", "status": "error"},
            {"unique_id": "seed.q2c.policy__rules", "status": "error"},
            {"unique_id": "test.q2c.unique_rec_breaks_break_id", "status": "fail"},
            {"unique_id": "test.q2c.not_null_x", "status": "error"},
            {"unique_id": "model.q2c.rec_summary", "status": "skipped"},
        ]
    }
    assert errored_build_nodes(results) == ["model.q2c.sync_x", "seed.q2c.policy__rules"]
    assert errored_build_nodes({"results": []}) == []
