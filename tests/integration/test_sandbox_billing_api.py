"""The billing stand-in's API semantics, exercised with the official `stripe` SDK over HTTP.

Runs against the hand-written minimal world (`sandbox.billing.minimal_world`), whose ids
and timestamps are known, so every expectation is computed from the world file itself.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import stripe

from sandbox.billing import create_app
from sandbox.billing.minimal_world import NOW, write_minimal_world
from sandbox.billing.serve import serve_in_thread

pytestmark = pytest.mark.integration

KEY = "sk_test_billing_standin"


def _client(base_url: str, **kwargs: object) -> stripe.StripeClient:
    return stripe.StripeClient(
        KEY, base_addresses={"api": base_url}, max_network_retries=0, **kwargs
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    world_dir = tmp_path_factory.mktemp("billing_world")
    write_minimal_world(world_dir)
    return world_dir


@pytest.fixture(scope="module")
def base_url(world: Path) -> Iterator[str]:
    with serve_in_thread(create_app(world)) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url: str) -> stripe.StripeClient:
    return _client(base_url)


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[tuple[Path, str, stripe.StripeClient]]:
    """A world of its own for tests that write."""
    write_minimal_world(tmp_path)
    with serve_in_thread(create_app(tmp_path)) as url:
        yield tmp_path, url, _client(url)


def _ids(world: Path, sql: str, *args: object) -> list[str]:
    con = sqlite3.connect(world / "billing.sqlite")
    try:
        return [r[0] for r in con.execute(sql, args)]
    finally:
        con.close()


def _newest_first(world: Path, object_type: str, extra: str = "", *args: object) -> list[str]:
    return _ids(
        world,
        f"SELECT id FROM objects WHERE object = ? AND deleted = 0 {extra} "
        "ORDER BY created DESC, id DESC",
        object_type,
        *args,
    )


def test_auto_paging_iter_returns_every_live_customer_newest_first_with_ties_by_id(
    client: stripe.StripeClient, world: Path
) -> None:
    listed = [c.id for c in client.v1.customers.list({"limit": 7}).auto_paging_iter()]
    assert listed == _newest_first(world, "customer")
    assert "cus_0099" not in listed  # deleted
    assert listed.index("cus_0003") < listed.index("cus_0002")  # same second: id desc


def test_ending_before_pages_backwards_to_the_newest(
    client: stripe.StripeClient, world: Path
) -> None:
    expected = _newest_first(world, "charge")
    page = client.v1.charges.list({"limit": 3, "ending_before": expected[6]})
    assert [c.id for c in page.data] == expected[3:6]
    assert page.has_more is True
    back = [
        c.id
        for c in client.v1.charges.list(
            {"limit": 2, "ending_before": expected[6]}
        ).auto_paging_iter()
    ]
    assert back == list(reversed(expected[:6]))


def test_has_more_is_false_on_the_last_page_and_url_is_the_list_path(
    client: stripe.StripeClient, world: Path
) -> None:
    expected = _newest_first(world, "charge")
    first = client.v1.charges.list({"limit": len(expected) - 1})
    assert first.has_more is True
    assert first.url == "/v1/charges"
    last = client.v1.charges.list({"limit": 100, "starting_after": first.data[-1].id})
    assert [c.id for c in last.data] == expected[-1:]
    assert last.has_more is False


def test_created_filters_bound_the_listing(client: stripe.StripeClient, world: Path) -> None:
    t = NOW - 40 * 86_400 + 5 * 3_600
    cases = {
        "gt": "> ?",
        "gte": ">= ?",
        "lt": "< ?",
        "lte": "<= ?",
    }
    for op, sql in cases.items():
        listed = [
            c.id
            for c in client.v1.customers.list({"limit": 100, "created": {op: t}}).auto_paging_iter()
        ]
        assert listed == _newest_first(world, "customer", f"AND created {sql}", t), op
    exact = client.v1.customers.list({"created": t})
    assert sorted(c.id for c in exact.data) == ["cus_0010", "cus_0011"]


@pytest.mark.parametrize("limit", [0, 101])
def test_limit_outside_1_to_100_is_an_invalid_request(
    client: stripe.StripeClient, limit: int
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.customers.list({"limit": limit})
    assert err.value.http_status == 400
    assert err.value.param == "limit"


def test_default_limit_is_ten(client: stripe.StripeClient) -> None:
    assert len(client.v1.customers.list().data) == 10


def test_unknown_id_is_resource_missing_404(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.charges.retrieve("ch_does_not_exist")
    assert err.value.http_status == 404
    assert err.value.code == "resource_missing"
    assert err.value.json_body["error"]["type"] == "invalid_request_error"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.charges.retrieve("cus_0001")  # an id of another type


def test_unknown_cursor_is_an_invalid_request(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.customers.list({"starting_after": "cus_nope"})
    assert err.value.code == "resource_missing"
    assert err.value.param == "starting_after"


def test_unknown_parameter_is_refused(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.coupons.list({"colour": "blue"})  # type: ignore[typeddict-unknown-key]
    assert err.value.code == "parameter_unknown"
    assert err.value.param == "colour"


def test_deleted_customer_retrieves_as_a_tombstone(client: stripe.StripeClient) -> None:
    obj = client.v1.customers.retrieve("cus_0099")
    assert obj.to_dict() == {"id": "cus_0099", "object": "customer", "deleted": True}


def test_subscriptions_exclude_canceled_by_default_and_status_all_lists_every_one(
    client: stripe.StripeClient, world: Path
) -> None:
    default = {s.id for s in client.v1.subscriptions.list({"limit": 100}).auto_paging_iter()}
    assert default == set(_newest_first(world, "subscription", "AND status != 'canceled'"))
    every = {s.id for s in client.v1.subscriptions.list({"status": "all"}).auto_paging_iter()}
    assert every == set(_newest_first(world, "subscription"))
    canceled = {s.id for s in client.v1.subscriptions.list({"status": "canceled"}).data}
    assert canceled == {"sub_3", "sub_6"}
    ended = {s.id for s in client.v1.subscriptions.list({"status": "ended"}).data}
    assert ended == {"sub_3", "sub_5", "sub_6"}
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.list({"status": "sleeping"})  # type: ignore[typeddict-item]


def test_subscription_items_list_by_subscription_which_is_required(
    client: stripe.StripeClient,
) -> None:
    items = client.v1.subscription_items.list({"subscription": "sub_1"})
    assert [i.id for i in items.data] == ["si_1_2", "si_1_1"]
    assert items.url == "/v1/subscription_items"
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.subscription_items.list({})  # type: ignore[typeddict-item]
    assert err.value.param == "subscription"


def test_invoice_lines_page_through_and_unknown_invoice_is_404(
    client: stripe.StripeClient,
) -> None:
    lines = client.v1.invoices.line_items.list("in_2", {"limit": 2})
    assert lines.url == "/v1/invoices/in_2/lines"
    assert [x.id for x in lines.auto_paging_iter()] == ["il_2_3", "il_2_2", "il_2_1"]
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.invoices.line_items.list("in_nope")
    assert err.value.http_status == 404


def test_balance_transactions_filter_by_payout_and_type(
    client: stripe.StripeClient, world: Path
) -> None:
    settled = [
        t.id for t in client.v1.balance_transactions.list({"payout": "po_1"}).auto_paging_iter()
    ]
    assert settled == _newest_first(world, "balance_transaction", "AND payout = 'po_1'")
    assert len(settled) == 10
    payouts = client.v1.balance_transactions.list({"type": "payout"}).data
    assert {t.id for t in payouts} == {"txn_po_1", "txn_po_2"}


def test_events_cover_only_the_last_30_days_of_the_world_clock(
    client: stripe.StripeClient, world: Path
) -> None:
    listed = [e.id for e in client.v1.events.list({"limit": 100}).auto_paging_iter()]
    assert listed == _newest_first(world, "event", "AND created >= ?", NOW - 30 * 86_400)
    assert "evt_000" not in listed and "evt_009" in listed
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.events.retrieve("evt_000")  # 39 days old
    assert client.v1.events.retrieve("evt_020").id == "evt_020"


def test_events_filter_by_type_types_wildcard_and_delivery_success(
    client: stripe.StripeClient,
) -> None:
    def ids(params: dict) -> set[str]:
        return {e.id for e in client.v1.events.list({"limit": 100, **params}).auto_paging_iter()}

    paid = ids({"type": "invoice.paid"})
    assert paid and all(int(i[4:]) % 4 == 1 for i in paid)
    invoice_any = ids({"type": "invoice.*"})
    assert invoice_any == paid | ids({"type": "invoice.payment_failed"})
    assert ids({"types": ["invoice.paid", "charge.succeeded"]}) == paid | ids(
        {"type": "charge.succeeded"}
    )
    failed = ids({"delivery_success": False})
    assert failed and all(int(i[4:]) % 5 == 0 for i in failed)
    assert ids({"delivery_success": True}).isdisjoint(failed)


def test_expand_data_customer_on_lists_and_customer_on_retrieve(
    client: stripe.StripeClient,
) -> None:
    page = client.v1.charges.list({"limit": 3, "expand": ["data.customer"]})
    for charge in page.data:
        assert charge.customer.object == "customer"
        assert charge.customer.id.startswith("cus_")
    one = client.v1.invoices.retrieve("in_1", {"expand": ["customer"]})
    assert one.customer.id == "cus_0002"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.charges.list({"expand": ["customer"]})  # lists need data.


def test_curl_style_brackets_work_on_get(base_url: str) -> None:
    r = httpx.get(
        f"{base_url}/v1/charges?limit=2&expand[]=data.customer&created[gte]=0",
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert r.status_code == 200
    assert r.json()["data"][0]["customer"]["object"] == "customer"


def test_api_key_is_required_and_must_be_a_test_key(base_url: str) -> None:
    r = httpx.get(f"{base_url}/v1/customers")
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"
    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient("sk_live_x", base_addresses={"api": base_url}).v1.customers.list()


def test_configured_api_keys_are_the_only_ones_accepted(world: Path) -> None:
    with serve_in_thread(create_app(world, api_keys=["sk_test_only"])) as url:
        with pytest.raises(stripe.AuthenticationError):
            _client(url).v1.customers.list()
        ok = stripe.StripeClient("sk_test_only", base_addresses={"api": url})
        assert len(ok.v1.customers.list({"limit": 1}).data) == 1


def test_unrecognized_url_is_404_invalid_request(base_url: str) -> None:
    r = httpx.get(f"{base_url}/v1/spaceships", headers={"Authorization": f"Bearer {KEY}"})
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "invalid_request_error"


# --- writes ------------------------------------------------------------------------------


def test_customer_create_and_update_write_the_world_and_emit_events(
    fresh: tuple[Path, str, stripe.StripeClient],
) -> None:
    world, _url, client = fresh
    created = client.v1.customers.create(
        {"email": "new@example.test", "name": "New Co", "metadata": {"tier": "gold"}}
    )
    assert created.created == NOW  # the world's clock, not the wall clock
    assert client.v1.customers.retrieve(created.id).email == "new@example.test"
    assert created.id in _newest_first(world, "customer")
    updated = client.v1.customers.update(
        created.id, {"metadata": {"tier": "", "region": "emea"}, "name": "Renamed Co"}
    )
    assert updated.metadata.to_dict() == {"region": "emea"}
    events = client.v1.events.list({"types": ["customer.created", "customer.updated"]}).data
    mine = [e for e in events if e.data.object.id == created.id]
    assert [e.type for e in mine] == ["customer.updated", "customer.created"] or [
        e.type for e in mine
    ] == ["customer.created", "customer.updated"]
    update_event = next(e for e in mine if e.type == "customer.updated")
    assert update_event.data.previous_attributes.name == "New Co"
    deleted = client.v1.customers.delete(created.id)
    assert deleted.deleted is True
    assert created.id not in _newest_first(world, "customer")


def test_same_idempotency_key_and_params_replay_the_first_response(
    fresh: tuple[Path, str, stripe.StripeClient],
) -> None:
    world, url, client = fresh
    params = {"customer": "cus_0004", "amount": 1250, "currency": "usd"}
    first = client.v1.invoice_items.create(params, {"idempotency_key": "ii-key-1"})
    again = client.v1.invoice_items.create(params, {"idempotency_key": "ii-key-1"})
    assert again.id == first.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert (
        len(
            _ids(
                world,
                "SELECT id FROM objects WHERE object = 'invoiceitem' " "AND customer = 'cus_0004'",
            )
        )
        == 1
    )
    with pytest.raises(stripe.IdempotencyError) as err:
        client.v1.invoice_items.create({**params, "amount": 1300}, {"idempotency_key": "ii-key-1"})
    assert err.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoice_items.create(params, {"idempotency_key": "k" * 256})
    assert client.v1.invoice_items.create(params, {"idempotency_key": "k" * 255}).id


def test_replay_of_an_error_free_write_survives_a_restart(tmp_path: Path) -> None:
    write_minimal_world(tmp_path)
    params = {"email": "restart@example.test"}
    with serve_in_thread(create_app(tmp_path)) as url:
        first = _client(url).v1.customers.create(params, {"idempotency_key": "restart-1"})
    with serve_in_thread(create_app(tmp_path)) as url:
        again = _client(url).v1.customers.create(params, {"idempotency_key": "restart-1"})
    assert again.id == first.id


def test_invoiceitem_amount_is_unit_amount_times_quantity_and_updates_emit_events(
    fresh: tuple[Path, str, stripe.StripeClient],
) -> None:
    _world, _url, client = fresh
    item = client.v1.invoice_items.create(
        {"customer": "cus_0001", "unit_amount": 333, "quantity": 3, "currency": "usd"}
    )
    assert (item.amount, item.unit_amount, item.quantity) == (999, 333, 3)
    assert item.invoice is None
    changed = client.v1.invoice_items.update(item.id, {"quantity": 4})
    assert changed.amount == 1332
    event = client.v1.events.list({"type": "invoiceitem.updated"}).data[0]
    assert event.data.previous_attributes.amount == 999
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.invoice_items.create({"customer": "cus_nope", "amount": 1, "currency": "usd"})
    assert err.value.param == "customer"
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.invoice_items.create({"customer": "cus_0001", "amount": 1, "currency": "eur"})
    assert err.value.param == "currency"  # cus_0001 bills in usd


def test_refunds_reduce_what_is_left_and_add_a_balance_transaction(
    fresh: tuple[Path, str, stripe.StripeClient],
) -> None:
    _world, _url, client = fresh
    part = client.v1.refunds.create({"charge": "ch_ok", "amount": 1200, "reason": "duplicate"})
    assert (part.amount, part.currency, part.status) == (1200, "usd", "succeeded")
    charge = client.v1.charges.retrieve("ch_ok")
    assert (charge.amount_refunded, charge.refunded) == (1200, False)
    txn = client.v1.balance_transactions.retrieve(part.balance_transaction)
    assert (txn.amount, txn.net, txn.type, txn.source) == (-1200, -1200, "refund", part.id)
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.refunds.create({"charge": "ch_ok", "amount": 3801})
    assert err.value.code == "amount_too_large"
    rest = client.v1.refunds.create({"payment_intent": "pi_ok"})
    assert rest.amount == 3800
    assert client.v1.charges.retrieve("ch_ok").refunded is True
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.refunds.create({"charge": "ch_ok"})
    assert err.value.code == "charge_already_refunded"
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.refunds.create({"charge": "ch_disp"})
    assert err.value.code == "charge_disputed"
    types = [
        e.type for e in client.v1.events.list({"types": ["refund.created", "charge.refunded"]}).data
    ]
    assert sorted(types) == ["charge.refunded"] * 2 + ["refund.created"] * 2
    updated = client.v1.refunds.update(part.id, {"metadata": {"case": "42"}})
    assert updated.metadata.case == "42"


def test_non_integer_amounts_are_refused(fresh: tuple[Path, str, stripe.StripeClient]) -> None:
    _world, _url, client = fresh
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.refunds.create({"charge": "ch_ok", "amount": "12.50"})  # type: ignore[typeddict-item]
    assert err.value.param == "amount"
