"""The events stream: changes made through the billing API are re-read, deletions tombstoned.

Writes go through the official stripe SDK to the stand-in over a private copy of the S world;
each test makes one change, runs the extraction and checks that exactly that change landed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import stripe

from q2c.warehouse import Warehouse
from tests.integration.test_extract_billing import copy_world, landed_live, run_billing

pytestmark = pytest.mark.integration

#: What the changes below touch (the full catalogue is the story test's job).
OBJECTS = ("event", "customer", "charge", "refund", "balance_transaction")


@dataclass
class Live:
    world: Path
    env: dict[str, str]
    wh_url: str
    sdk: stripe.StripeClient
    runs: int = 0

    def run(self, mode: str = "incremental") -> str:
        self.runs += 1
        run_id = f"events-{self.runs}"
        run_billing(self.env, self.wh_url, run_id, objects=OBJECTS, mode=mode)
        return run_id

    def stored(self, run_id: str) -> dict[str, set[tuple[str, str | None, bool]]]:
        """table -> {(object_id, provider_ref, is_deleted)} stored by `run_id`."""
        with Warehouse.from_url(self.wh_url) as wh:
            tables = [
                r[0]
                for r in wh.fetchall(
                    "select table_name from information_schema.tables"
                    " where table_schema = 'raw' and table_name like 'billing__%'"
                )
            ]
            out: dict[str, set[tuple[str, str | None, bool]]] = {}
            for t in tables:
                rows = wh.fetchall(
                    f"select object_id, provider_ref, is_deleted from raw.{t} where run_id = ?",
                    [run_id],
                )
                if rows:
                    out[t.removeprefix("billing__")] = {(r[0], r[1], bool(r[2])) for r in rows}
            return out


@pytest.fixture(scope="module")
def live(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    from sandbox.services import start_services

    root = tmp_path_factory.mktemp("billing_events")
    world = copy_world(world_s, root / "world")
    sandbox = start_services(world, None, root / "state", services=("billing",))
    env = dict(sandbox.env)
    sdk = stripe.StripeClient(
        env["Q2C_BILLING_API_KEY"], base_addresses={"api": env["Q2C_BILLING_API_BASE"]}
    )
    state = Live(world, env, f"duckdb:///{root / 'wh.duckdb'}", sdk)
    try:
        state.run()  # the initial full extraction
        yield state
    finally:
        sandbox.stop()


def _some(world: Path, sql: str) -> str:
    con = sqlite3.connect(world / "billing.sqlite")
    try:
        (value,) = con.execute(sql).fetchone()
        return value
    finally:
        con.close()


def _event_ids(stored: dict[str, set[tuple[str, str | None, bool]]]) -> set[str]:
    return {oid for oid, _, _ in stored.get("event", set())}


def test_an_update_lands_exactly_the_new_version_with_its_event_as_provider_ref(
    live: Live,
) -> None:
    customer = _some(
        live.world, "select id from objects where object = 'customer' and deleted = 0 limit 1"
    )
    updated = live.sdk.v1.customers.update(customer, {"metadata": {"q2c_test": "updated"}})
    stored = live.stored(live.run())
    (event,) = _event_ids(stored)
    assert stored == {"customer": {(customer, event, False)}, "event": {(event, event, False)}}
    with Warehouse.from_url(live.wh_url) as wh:
        payload = landed_live(wh, "customer")[customer]
    assert payload == json.loads(str(updated.last_response.body))
    assert payload["metadata"]["q2c_test"] == "updated"


def test_a_deleted_customer_lands_as_a_tombstone_from_its_deleted_event(live: Live) -> None:
    customer = _some(
        live.world,
        "select id from objects where object = 'customer' and deleted = 0"
        " order by created desc limit 1",
    )
    live.sdk.v1.customers.delete(customer)
    stored = live.stored(live.run())
    (event,) = _event_ids(stored)
    assert stored["customer"] == {(customer, event, True)}
    with Warehouse.from_url(live.wh_url) as wh:
        assert customer not in landed_live(wh, "customer")


def test_a_refund_lands_the_refund_the_updated_charge_and_its_balance_transaction(
    live: Live,
) -> None:
    charge = _some(
        live.world,
        "select id from objects where object = 'charge' and deleted = 0"
        " and json_extract(body, '$.status') = 'succeeded'"
        " and json_extract(body, '$.amount_refunded') = 0 order by created desc limit 1",
    )
    refund = live.sdk.v1.refunds.create({"charge": charge, "amount": 100})
    stored = live.stored(live.run())
    assert {oid for oid, _, _ in stored["refund"]} == {refund.id}
    assert {oid for oid, _, _ in stored["charge"]} == {charge}
    assert {oid for oid, _, _ in stored["balance_transaction"]} == {refund.balance_transaction}
    assert set(stored) == {"refund", "charge", "balance_transaction", "event"}
    with Warehouse.from_url(live.wh_url) as wh:
        assert landed_live(wh, "charge")[charge]["amount_refunded"] == 100


def test_a_run_after_the_changes_lands_nothing(live: Live) -> None:
    assert live.stored(live.run()) == {}


def test_a_deletion_the_events_missed_is_caught_by_the_full_relist(live: Live) -> None:
    customer = _some(
        live.world,
        "select id from objects where object = 'customer' and deleted = 0"
        " order by created limit 1",
    )
    # Deleted upstream with no event (Stripe keeps events 30 days; some are never generated).
    con = sqlite3.connect(live.world / "billing.sqlite")
    with con:
        con.execute("update objects set deleted = 1 where id = ?", [customer])
    con.close()
    assert live.stored(live.run()) == {}
    stored = live.stored(live.run(mode="full"))
    assert stored == {"customer": {(customer, f"relist:events-{live.runs}", True)}}
    with Warehouse.from_url(live.wh_url) as wh:
        assert customer not in landed_live(wh, "customer")


def test_a_pending_balance_transaction_turning_available_without_an_event_is_re_read(
    live: Live,
) -> None:
    (txn, body) = (
        sqlite3.connect(live.world / "billing.sqlite")
        .execute(
            "select id, body from objects where object = 'balance_transaction'"
            " and json_extract(body, '$.status') = 'pending' order by created limit 1"
        )
        .fetchone()
    )
    available = {**json.loads(body), "status": "available"}
    con = sqlite3.connect(live.world / "billing.sqlite")
    with con:  # funds become available: Stripe changes the object and sends no event
        con.execute("update objects set body = ? where id = ?", [json.dumps(available), txn])
    con.close()
    stored = live.stored(live.run())
    assert stored == {"balance_transaction": {(txn, None, False)}}
    with Warehouse.from_url(live.wh_url) as wh:
        assert landed_live(wh, "balance_transaction")[txn]["status"] == "available"
