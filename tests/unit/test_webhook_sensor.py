"""billing_webhook_sensor over a DuckDB file: asks for a run while inbox events wait, never twice
for the same events, never past one not processed, and not while a run holds DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from extractors.billing.webhooks import store_event
from orchestration.policies import MODE_TAG
from orchestration.resources import WarehouseResource
from orchestration.sensors import billing_webhook_sensor, webhook_run_key
from q2c.landing import RawRecord, land_page
from q2c.warehouse import Warehouse

pytestmark = pytest.mark.unit


def event(event_id: str) -> dict:
    return {
        "id": event_id,
        "object": "event",
        "type": "customer.updated",
        "created": 1_700_000_000,
        "data": {"object": {"id": "cus_1", "object": "customer"}},
    }


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[str, dg.DagsterInstance]]:
    with dg.DagsterInstance.ephemeral() as instance:
        yield f"duckdb:///{tmp_path / 'wh.duckdb'}", instance


def tick(url: str, instance: dg.DagsterInstance, cursor: str | None = None):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"warehouse": WarehouseResource(url=url)}
    )
    return billing_webhook_sensor(context), context.cursor


def test_no_inbox_yet_skips_without_creating_anything(setup) -> None:
    url, instance = setup
    result, cursor = tick(url, instance)
    assert isinstance(result, dg.SkipReason) and cursor is None
    with Warehouse.from_url(url) as wh:
        assert not wh.table_exists("raw", "billing__webhook_event")


def test_waiting_events_ask_for_one_webhook_run_keyed_by_their_ids(setup) -> None:
    url, instance = setup
    with Warehouse.from_url(url) as wh:
        store_event(wh, event("evt_2"), provider_ref="webhook:1", run_id="t")
        store_event(wh, event("evt_1"), provider_ref="webhook:2", run_id="t")
    request, cursor = tick(url, instance)
    assert isinstance(request, dg.RunRequest)
    assert request.tags[MODE_TAG] == "webhook"
    assert request.run_key == webhook_run_key(["evt_1", "evt_2"])
    # the same events still waiting: the same key (Dagster starts no second run for it)
    again, cursor = tick(url, instance, cursor)
    assert isinstance(again, dg.RunRequest) and again.run_key == request.run_key

    # one processed (in raw.billing__event): the other still holds the cursor back
    with Warehouse.from_url(url) as wh:
        land_page(wh, "billing", "event", [RawRecord("evt_2", "evt_2", event("evt_2"))], run_id="r")
    rest, cursor = tick(url, instance, cursor)
    assert isinstance(rest, dg.RunRequest) and rest.run_key == webhook_run_key(["evt_1"])

    with Warehouse.from_url(url) as wh:
        land_page(wh, "billing", "event", [RawRecord("evt_1", "evt_1", event("evt_1"))], run_id="r")
    done, final = tick(url, instance, cursor)
    assert isinstance(done, dg.SkipReason)
    assert final is not None and final >= cursor  # moved to the newest arrival


def test_on_duckdb_the_sensor_waits_while_any_run_is_in_progress(setup) -> None:
    url, instance = setup
    with Warehouse.from_url(url) as wh:
        store_event(wh, event("evt_9"), provider_ref="webhook:1", run_id="t")
    create_run_for_test(instance, job_name="billing_every_5_minutes_job",
                        status=dg.DagsterRunStatus.STARTED)  # fmt: skip
    result, cursor = tick(url, instance)
    assert isinstance(result, dg.SkipReason) and "in progress" in str(result.skip_message)
    assert cursor is None
