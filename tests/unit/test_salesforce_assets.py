"""The Salesforce and ERP Dagster wiring: keys, groups, policies, partitions, schedules."""

from __future__ import annotations

import dagster as dg
import pytest

from orchestration.assets.erp import erp_assets, erp_lags
from orchestration.assets.salesforce import salesforce_assets, salesforce_lags
from orchestration.backfills import monthly_partitions, salesforce_backfill_job
from orchestration.jobs import source_jobs
from orchestration.resources import ErpResource, SalesforceResource, WarehouseResource

pytestmark = pytest.mark.unit


salesforce_jobs, salesforce_schedules = source_jobs(
    "salesforce", salesforce_assets, salesforce_lags
)
erp_jobs, erp_schedules = source_jobs("erp", erp_assets, erp_lags)


def defs(tmp_path) -> dg.Definitions:
    return dg.Definitions(
        assets=[*salesforce_assets, *erp_assets],
        jobs=[*salesforce_jobs, salesforce_backfill_job, *erp_jobs],
        schedules=[*salesforce_schedules, *erp_schedules],
        resources={
            "salesforce": SalesforceResource(login_url="https://login.example"),
            "erp": ErpResource(base_url="http://erp.example", token="t"),
            "warehouse": WarehouseResource(url=f"duckdb:///{tmp_path}/w.duckdb"),
        },
    )


def test_asset_keys_groups_and_policies(tmp_path):
    d = defs(tmp_path)
    graph = d.resolve_asset_graph()
    sf = {k.to_user_string() for a in salesforce_assets for k in a.keys}
    assert sf == {
        f"raw/salesforce/{o}" for o in ("account", "contact", "opportunity", "case", "user")
    }
    erp = {k.to_user_string() for a in erp_assets for k in a.keys}
    assert {"raw/erp/transaction", "raw/erp/transactionline", "raw/erp/customer"} <= erp
    for asset in [*salesforce_assets, *erp_assets]:
        key = next(iter(asset.keys))
        node = graph.get(key)
        assert node.group_name == ("raw_salesforce" if key.path[1] == "salesforce" else "raw_erp")
        assert asset.op.retry_policy is not None and asset.op.retry_policy.max_retries >= 1
        assert len(asset.descriptions_by_key[key]) > 40


def test_backfill_job_is_monthly_and_covers_every_object(tmp_path):
    job = defs(tmp_path).resolve_job_def("salesforce_backfill_job")
    assert job.partitions_def == monthly_partitions
    keys = monthly_partitions.get_partition_keys()
    assert keys[0] == "2024-01-01"
    window = monthly_partitions.time_window_for_partition_key("2026-10-01")
    assert (window.start.isoformat(), window.end.isoformat()) == (
        "2026-10-01T00:00:00+00:00",
        "2026-11-01T00:00:00+00:00",
    )
    assert {n.name for n in salesforce_backfill_job.graph.node_defs} == {
        f"backfill_salesforce_{o}" for o in ("account", "contact", "opportunity", "case", "user")
    }


def test_schedules_skip_while_the_same_job_is_in_flight(tmp_path):
    d = defs(tmp_path)
    name = "salesforce_every_15_minutes_schedule"  # account, contact...: expected within 15m
    schedule = next(s for s in salesforce_schedules if s.name == name)
    with dg.instance_for_test() as instance:
        ctx = dg.build_schedule_context(instance=instance)
        first = schedule.evaluate_tick(ctx)
        assert first.run_requests and not first.skip_message
        job = d.resolve_job_def("salesforce_every_15_minutes_job")
        instance.create_run_for_job(job_def=job, status=dg.DagsterRunStatus.STARTED)
        second = schedule.evaluate_tick(dg.build_schedule_context(instance=instance))
        assert not second.run_requests and "is already started" in (second.skip_message or "")


def test_objects_come_from_the_ownership_contract(tmp_path):
    from extractors.salesforce.extract import DEFAULT_OBJECTS, configured_objects

    assert configured_objects() == ["Account", "Contact", "Opportunity", "Case", "User"]
    assert configured_objects(tmp_path / "missing.yml") == list(DEFAULT_OBJECTS)
    broken = tmp_path / "broken.yml"
    broken.write_text("version: 1\nsystems: []\n")
    assert configured_objects(broken) == list(DEFAULT_OBJECTS)


def test_resources_from_settings_keep_secrets_in_env_vars(tmp_path):
    from orchestration.resources import build_erp_resource, build_salesforce_resource
    from q2c.settings import load_settings

    settings = load_settings(
        {
            "Q2C_HOME": str(tmp_path),
            "Q2C_SALESFORCE_LOGIN_URL": "https://127.0.0.1:8443",
            "Q2C_SALESFORCE_CLIENT_ID": "cid",
            "Q2C_SALESFORCE_CLIENT_SECRET": "s3cret",
            "Q2C_SALESFORCE_CA_BUNDLE": "/tmp/ca.pem",
            "Q2C_ERP_BASE_URL": "http://127.0.0.1:9000",
            "Q2C_ERP_TOKEN": "tok",
        }
    )
    sf = build_salesforce_resource(settings)
    assert sf.login_url == "https://127.0.0.1:8443" and sf.ca_bundle == "/tmp/ca.pem"
    assert isinstance(sf.client_secret, dg.EnvVar) and sf.client_secret.env_var_name == (
        "Q2C_SALESFORCE_CLIENT_SECRET"
    )
    assert sf.username is None  # client credentials: no user configured
    erp = build_erp_resource(settings)
    assert erp.base_url == "http://127.0.0.1:9000" and isinstance(erp.token, dg.EnvVar)


def test_freshness_policies_follow_the_contracts_incident_lag():
    from datetime import timedelta

    from orchestration.freshness import contract_incident_after

    lags = contract_incident_after("salesforce", ["account", "user", "not_in_contract"])
    assert lags == {
        "account": timedelta(hours=2),  # policy/ownership.yml: account incident_after 2h
        "user": timedelta(days=3),
        "not_in_contract": timedelta(days=2),
    }
    by_key = {
        next(iter(a.keys)).to_user_string(): a.specs_by_key[next(iter(a.keys))].freshness_policy
        for a in [*salesforce_assets, *erp_assets]
    }
    assert by_key["raw/salesforce/account"].fail_window.to_timedelta() == timedelta(hours=2)
    assert by_key["raw/erp/transactionline"].fail_window.to_timedelta() == timedelta(days=2)
