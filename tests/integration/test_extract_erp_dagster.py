"""The ERP assets run through Dagster against the ERP stand-in (tiny hand-written world)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from orchestration.assets.erp import erp_assets
from orchestration.resources import ErpResource, WarehouseResource
from tests.support.sandbox import build_tiny_erp_world

pytestmark = pytest.mark.integration

ASSETS = erp_assets


@pytest.fixture
def erp(tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    from sandbox.services import start_services

    world = build_tiny_erp_world(tmp_path / "world", customers=20, invoices=120)
    sandbox = start_services(world, None, tmp_path / "state", services=("erp",))
    try:
        yield sandbox, world
    finally:
        sandbox.stop()


def test_erp_assets_land_every_table_with_metadata_then_land_nothing(erp, tmp_path):
    sandbox, world = erp
    resources = {
        "erp": ErpResource(
            base_url=sandbox.env["Q2C_ERP_BASE_URL"],
            token=sandbox.env["Q2C_ERP_TOKEN"],
            retry_base_wait=0.01,
        ),
        "warehouse": WarehouseResource(url=f"duckdb:///{tmp_path}/w.duckdb"),
    }
    con = sqlite3.connect(world / "truth.sqlite")
    truth = dict(con.execute("select object, n from counts where system = 'erp'").fetchall())
    con.close()
    with dg.DagsterInstance.ephemeral() as instance:
        first = dg.materialize(ASSETS, resources=resources, instance=instance)
        assert first.success
        meta = {
            e.asset_key.path[-1]: e.step_materialization_data.materialization.metadata  # type: ignore[union-attr]
            for e in first.get_asset_materialization_events()
        }
        assert {k: m["rows_landed"].value for k, m in meta.items()} == truth
        assert meta["transaction"]["mode"].value == "incremental"
        assert meta["transaction"]["cursor_after"].value.endswith("Z")
        assert meta["account"]["mode"].value == "full"
        assert meta["transactionline"]["api_requests"].value >= 1
        second = dg.materialize(ASSETS, resources=resources, instance=instance)
        landed = [
            e.step_materialization_data.materialization.metadata["rows_landed"].value  # type: ignore[union-attr]
            for e in second.get_asset_materialization_events()
        ]
        assert landed == [0] * len(ASSETS)
