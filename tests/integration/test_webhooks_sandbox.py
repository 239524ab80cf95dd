"""Webhooks end to end: the billing stand-in sends signed events to a running intake, the sensor
turns them into a Dagster run of targeted re-reads, and recovery lands what was never delivered.

One private copy of the S world; only customers and events are extracted (the change is a
customer's), so the module stays fast.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import stripe

from extractors.billing import BillingClient, BillingCredentials, BillingExtractor
from extractors.billing.webhooks import intake_counts, pending_events
from orchestration.assets.billing import asset_key, billing_lags, raw_billing_event
from orchestration.assets.webhooks import raw_billing_webhook_event
from orchestration.policies import MODE_TAG
from orchestration.resources import BillingApiResource, WarehouseResource
from orchestration.sensors import billing_webhook_sensor
from orchestration.webhook_app import PATH, IntakeConfig, create_app
from q2c.landing import get_cursor
from q2c.warehouse import Warehouse
from sandbox.billing.serve import serve_in_thread
from tests.integration.test_extract_billing import FAST_RETRY, copy_world, landed_live, run_billing

pytestmark = pytest.mark.integration

SECRET = "whsec_q2c_integration_new"
OLD_SECRET = "whsec_q2c_integration_old"


@dataclass
class Live:
    world: Path
    env: dict[str, str]
    wh_url: str
    sdk: stripe.StripeClient
    sender: Any
    instance: dg.DagsterInstance

    def extractor(self, wh: Warehouse, run_id: str) -> BillingExtractor:
        client = BillingClient(
            BillingCredentials(self.env["Q2C_BILLING_API_BASE"], self.env["Q2C_BILLING_API_KEY"]),
            FAST_RETRY,
        )
        return BillingExtractor(client, wh, run_id=run_id)

    def world_sql(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        con = sqlite3.connect(self.world / "billing.sqlite")
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()

    def customer(self, offset: int) -> str:
        return self.world_sql(
            "select id from objects where object = 'customer' and deleted = 0"
            " order by created desc limit 1 offset ?",
            [offset],
        )[0][0]

    def inbox(self) -> dict[str, str]:
        with Warehouse.from_url(self.wh_url) as wh:
            if not wh.table_exists("raw", "billing__webhook_event"):
                return {}
            rows = wh.fetchall("select object_id, provider_ref from raw.billing__webhook_event")
        assert len(rows) == len({r[0] for r in rows}), "an event landed twice in the inbox"
        return dict(rows)


def wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def live(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    from sandbox.services import start_services

    root = tmp_path_factory.mktemp("webhooks")
    world = copy_world(world_s, root / "world")
    wh_url = f"duckdb:///{root / 'wh.duckdb'}"
    # the intake knows only the new secret; the sandbox signs with both (a rotation under way)
    app = create_app(IntakeConfig(warehouse_url=wh_url, secrets=[SECRET]))
    with serve_in_thread(app) as intake_base:
        sandbox = start_services(
            world,
            None,
            root / "state",
            services=("billing",),
            webhook_url=intake_base + PATH,
            webhook_secrets=[OLD_SECRET, SECRET],
        )
        try:
            env = dict(sandbox.env)
            assert env["Q2C_BILLING_WEBHOOK_SECRETS"] == f"{OLD_SECRET},{SECRET}"
            run_billing(env, wh_url, "initial", objects=("event", "customer"))
            sdk = stripe.StripeClient(
                env["Q2C_BILLING_API_KEY"], base_addresses={"api": env["Q2C_BILLING_API_BASE"]}
            )
            with dg.DagsterInstance.ephemeral() as instance:
                yield Live(world, env, wh_url, sdk, sandbox.webhook_sender, instance)
        finally:
            sandbox.stop()


def test_a_changed_customer_lands_through_the_webhook_sensor_without_the_poll(live: Live) -> None:
    customer = live.customer(0)
    with Warehouse.from_url(live.wh_url) as wh:
        event_cursor = get_cursor(wh, "billing", "event")
    started = time.monotonic()
    live.sdk.v1.customers.update(customer, {"metadata": {"q2c_webhook": "changed"}})
    (event_id,) = live.world_sql(
        "select id from objects where object = 'event' and type = 'customer.updated'"
        " and json_extract(body, '$.data.object.id') = ? order by created desc limit 1",
        [customer],
    )[0]
    wait_for(lambda: event_id in live.inbox(), "the webhook to land in the inbox")
    assert live.inbox()[event_id].startswith("webhook:")

    resources = {
        "warehouse": WarehouseResource(url=live.wh_url),
        "billing": BillingApiResource(
            api_base=live.env["Q2C_BILLING_API_BASE"],
            api_key=live.env["Q2C_BILLING_API_KEY"],
            retry_wait_initial=0.05,
            retry_wait_max=0.2,
        ),
    }
    context = dg.build_sensor_context(instance=live.instance, resources=resources)
    request = billing_webhook_sensor(context)
    assert isinstance(request, dg.RunRequest)
    assert request.tags[MODE_TAG] == "webhook"
    result = dg.materialize(
        [raw_billing_event], instance=live.instance, resources=resources, tags=request.tags
    )
    assert result.success
    elapsed = time.monotonic() - started

    with Warehouse.from_url(live.wh_url) as wh:
        landed = wh.fetchall(
            "select provider_ref, run_id from raw.billing__customer where object_id = ?"
            " order by extracted_at desc limit 1",
            [customer],
        )
        assert landed == [(event_id, result.run_id)]
        assert landed_live(wh, "customer")[customer]["metadata"]["q2c_webhook"] == "changed"
        # processed: the event is in the change log, the poll's cursor did not move
        assert wh.fetchone(
            "select count(*) from raw.billing__event where object_id = ?", [event_id]
        ) == (1,)
        assert get_cursor(wh, "billing", "event") == event_cursor
        assert pending_events(wh) == []
    # within the customer's contract lag, even after waiting a whole sensor interval
    lag = billing_lags[asset_key("customer")].expected
    assert elapsed + billing_webhook_sensor.minimum_interval_seconds < lag.total_seconds()
    # nothing left: the next tick skips and moves its cursor
    again = billing_webhook_sensor(
        dg.build_sensor_context(instance=live.instance, resources=resources, cursor=context.cursor)
    )
    assert isinstance(again, dg.SkipReason)


def test_duplicate_and_out_of_order_deliveries_land_each_event_once_and_the_newest_state(
    live: Live,
) -> None:
    live.sender.faults.update({"duplicate_rate": 1.0, "reorder": True})
    try:
        customer = live.customer(1)
        before = live.world_sql("select max(rowid) from objects")[0][0]
        live.sdk.v1.customers.update(customer, {"metadata": {"q2c_step": "one"}})
        live.sdk.v1.customers.update(customer, {"metadata": {"q2c_step": "two"}})
        events = [
            r[0]
            for r in live.world_sql(
                "select id from objects where object = 'event' and rowid > ? order by rowid",
                [before],
            )
        ]
        assert len(events) == 2
        wait_for(lambda: set(events) <= set(live.inbox()), "both events in the inbox")
        with Warehouse.from_url(live.wh_url) as wh:
            wait_for(
                lambda: intake_counts(wh).get("duplicate", {}).get("", 0) >= 2,
                "the duplicate deliveries",
            )
            with live.extractor(wh, "apply-dups") as extractor:
                result = extractor.apply_inbox()
            assert result.events_processed == 2
            assert landed_live(wh, "customer")[customer]["metadata"]["q2c_step"] == "two"
            assert wh.fetchone(
                "select count(*) from raw.billing__customer where run_id = 'apply-dups'"
            ) == (1,)
    finally:
        live.sender.faults.update({"duplicate_rate": 0.0, "reorder": False})


def test_a_refused_delivery_is_retried_then_left_undelivered_and_each_refusal_counted(
    live: Live,
) -> None:
    with Warehouse.from_url(live.wh_url) as wh:
        refused_before = intake_counts(wh).get("refused", {}).get("bad_signature", 0)
    secrets = live.sender.secrets
    live.sender.secrets = ["whsec_not_the_endpoints"]  # the endpoint answers 400
    try:
        customer = live.customer(3)
        live.sdk.v1.customers.update(customer, {"metadata": {"q2c_refused": "yes"}})
        (event_id,) = live.world_sql(
            "select id from objects where object = 'event' order by rowid desc limit 1"
        )[0]
        attempts = 1 + len(live.sender.retry_delays_s)
        wait_for(lambda: live.sender.failed >= 1, "the sender to give up")
        with Warehouse.from_url(live.wh_url) as wh:
            refused = intake_counts(wh)["refused"]["bad_signature"]
        assert refused == refused_before + attempts
    finally:
        live.sender.secrets = secrets
    assert live.world_sql("select delivered from objects where id = ?", [event_id]) == [(0,)]
    assert event_id not in live.inbox()


def test_events_never_delivered_are_recovered_from_the_events_api(live: Live) -> None:
    live.sender.faults.update({"drop_rate": 1.0})
    try:
        customer = live.customer(2)
        live.sdk.v1.customers.update(customer, {"metadata": {"q2c_lost": "yes"}})
        (lost,) = live.world_sql(
            "select id from objects where object = 'event' order by rowid desc limit 1"
        )[0]
        wait_for(
            lambda: live.world_sql("select delivered from objects where id = ?", [lost]) == [(0,)],
            "the sender to give the event up",
        )
    finally:
        live.sender.faults.update({"drop_rate": 0.0})
    assert lost not in live.inbox()
    (now,) = live.world_sql("select value from meta where key = 'now'")[0]
    undelivered = {
        r[0]
        for r in live.world_sql(
            "select id from objects where object = 'event' and deleted = 0 and delivered = 0"
            " and created >= ?",
            [int(now) - 30 * 86_400],
        )
    }
    assert lost in undelivered and len(undelivered) > 1  # the world's own late events too
    with Warehouse.from_url(live.wh_url) as wh:
        with live.extractor(wh, "recovery-1") as extractor:
            recovered = extractor.recover_events()
            applied = extractor.apply_inbox()
        inbox = live.inbox()
        assert undelivered <= set(inbox)
        assert {e for e, ref in inbox.items() if ref == "recovery:recovery-1"} == (
            undelivered - {e for e, ref in inbox.items() if ref.startswith("webhook:")}
        )
        assert recovered.landed == len(undelivered)
        assert applied.events_processed >= 1
        assert landed_live(wh, "customer")[customer]["metadata"]["q2c_lost"] == "yes"
        with live.extractor(wh, "recovery-2") as extractor:
            assert extractor.recover_events().landed == 0  # rerun: nothing new


def test_the_nightly_reconcile_lands_every_listed_event_the_inbox_lacks_once(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    (now,) = live.world_sql("select value from meta where key = 'now'")[0]
    listable = {
        r[0]
        for r in live.world_sql(
            "select id from objects where object = 'event' and deleted = 0 and created >= ?",
            [int(now) - 30 * 86_400],
        )
    }
    before = set(live.inbox())
    resources = {
        "warehouse": WarehouseResource(url=live.wh_url),
        "billing": BillingApiResource(
            api_base=live.env["Q2C_BILLING_API_BASE"], api_key=live.env["Q2C_BILLING_API_KEY"]
        ),
    }
    # without an endpoint secret there is nothing to reconcile
    monkeypatch.delenv("Q2C_BILLING_WEBHOOK_SECRETS", raising=False)
    skipped = dg.materialize(
        [raw_billing_webhook_event], instance=live.instance, resources=resources
    )
    assert _metadata(skipped) == {"configured": False}
    assert set(live.inbox()) == before

    monkeypatch.setenv("Q2C_BILLING_WEBHOOK_SECRETS", SECRET)
    first = dg.materialize([raw_billing_webhook_event], instance=live.instance, resources=resources)
    metadata = _metadata(first)
    assert metadata["recovered"] == 0  # the recovery test landed every undelivered event
    assert metadata["missing_found"] == len(listable - before) > 0
    inbox = live.inbox()
    assert listable <= set(inbox)
    assert {e for e, ref in inbox.items() if ref == f"reconcile:{first.run_id}"} == (
        listable - before
    )
    second = dg.materialize(
        [raw_billing_webhook_event], instance=live.instance, resources=resources
    )
    assert _metadata(second)["missing_found"] == 0
    # the poll had processed those already: nothing is pending for the sensor
    with Warehouse.from_url(live.wh_url) as wh:
        assert pending_events(wh) == []
    assert json.dumps(live.sender.stats())  # the sender's figures are plain JSON


def _metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    (materialization,) = result.asset_materializations_for_node("raw__billing__webhook_event")
    return {k: v.value for k, v in materialization.metadata.items()}
