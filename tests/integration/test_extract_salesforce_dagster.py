"""The Salesforce assets and the monthly backfill job, run through Dagster against the stand-in."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from orchestration.assets.salesforce import salesforce_assets
from orchestration.backfills import salesforce_backfill_job
from orchestration.resources import SalesforceResource, WarehouseResource
from q2c.warehouse import Warehouse

pytestmark = pytest.mark.integration


@pytest.fixture
def sf(tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    from sandbox.salesforce.synthetic import write_world
    from sandbox.services import start_services

    world = tmp_path / "world"
    write_world(world, 120)
    sandbox = start_services(world, None, tmp_path / "state", services=("salesforce",))
    try:
        yield sandbox, world
    finally:
        sandbox.stop()


def resources(sandbox: Any, url: str, secret: str | None = None) -> dict[str, Any]:
    env = sandbox.env
    return {
        "salesforce": SalesforceResource(
            login_url=env["Q2C_SALESFORCE_LOGIN_URL"],
            client_id=env["Q2C_SALESFORCE_CLIENT_ID"],
            client_secret=secret or env["Q2C_SALESFORCE_CLIENT_SECRET"],
            username=env["Q2C_SALESFORCE_USERNAME"],
            password=env["Q2C_SALESFORCE_PASSWORD"],
            ca_bundle=env["Q2C_SALESFORCE_CA_BUNDLE"],
            retry_base_wait=0.01,
            retry_max_wait=0.05,
        ),
        "warehouse": WarehouseResource(url=url),
    }


def world_counts(world: Path) -> dict[str, int]:
    con = sqlite3.connect(world / "salesforce.sqlite")
    rows = con.execute("select sobject, count(*) from records group by sobject").fetchall()
    con.close()
    return {s.lower(): n for s, n in rows}


def materializations(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    out = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization  # type: ignore[union-attr]
        out[mat.asset_key.path[-1]] = {k: v.value for k, v in mat.metadata.items()}
    return out


def test_assets_land_every_object_with_metadata_and_a_rerun_lands_nothing(sf, tmp_path):
    sandbox, world = sf
    url = f"duckdb:///{tmp_path}/w.duckdb"
    with dg.instance_for_test() as instance:
        first = dg.materialize(
            salesforce_assets, resources=resources(sandbox, url), instance=instance
        )
        assert first.success
        meta = materializations(first)
        counts = world_counts(world)
        assert {k: m["rows_landed"] for k, m in meta.items()} == counts
        account = meta["account"]
        assert account["cursor_before"] == "" and account["cursor_after"].endswith("Z")
        assert account["api_calls_used"] >= 2 and "/" in account["api_usage"]
        assert account["duration_s"] > 0 and account["quarantined"] == 0
        # nothing in the metadata is a record value (names, emails...): counts and cursors only
        assert all(not isinstance(v, dict | list) for v in account.values())
        second = dg.materialize(
            salesforce_assets, resources=resources(sandbox, url), instance=instance
        )
        assert {k: m["rows_landed"] for k, m in materializations(second).items()} == dict.fromkeys(
            counts, 0
        )


def test_backfill_job_runs_one_month_partition_through_bulk(sf, tmp_path):
    sandbox, world = sf
    url = f"duckdb:///{tmp_path}/w.duckdb"
    defs = dg.Definitions(jobs=[salesforce_backfill_job], resources=resources(sandbox, url))
    con = sqlite3.connect(world / "salesforce.sqlite")
    expected = dict(
        con.execute(
            "select lower(sobject), count(*) from records where system_modstamp >= '2026-10'"
            " and system_modstamp < '2026-11' group by sobject"
        ).fetchall()
    )
    con.close()
    assert sum(expected.values()) > 0
    with dg.DagsterInstance.ephemeral() as instance:
        # resolved under this instance: an earlier test's disposed instance may still be
        # Dagster's current definitions-state storage (a context variable) outside it
        job = defs.resolve_job_def("salesforce_backfill_job")
        result = job.execute_in_process(instance=instance, partition_key="2026-10-01")
        assert result.success
        landed = {
            name.removeprefix("backfill_salesforce_"): result.output_for_node(name)
            for name in (n.name for n in job.graph.node_defs)
        }
        assert {k: v for k, v in landed.items() if v} == expected
        again = job.execute_in_process(instance=instance, partition_key="2026-10-01")
        assert sum(again.output_for_node(n.name) for n in job.graph.node_defs) == 0
    with Warehouse.from_url(url) as wh:
        # the backfill leaves the incremental cursor alone
        assert wh.fetchall("select * from ops.cursors where source = 'salesforce'") == []
        (payload,) = wh.fetchone("select payload from raw.salesforce__account limit 1")
        assert "attributes" not in json.loads(payload)


def test_bad_credentials_fail_the_asset_once_with_what_to_do(sf, tmp_path):
    sandbox, _ = sf
    res = resources(sandbox, f"duckdb:///{tmp_path}/w.duckdb", secret="wrong")
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            salesforce_assets[:1], resources=res, instance=instance, raise_on_error=False
        )
    assert not result.success
    failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert len(failures) == 1
    assert not [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_RESTARTED]
    text = str(failures[0].step_failure_data.error)
    assert "Q2C_SALESFORCE_CLIENT_SECRET" in text and "wrong" not in text
