"""`normalize_record()` for billing: what lands, what is refused, and why."""

from __future__ import annotations

import json

import pytest

from extractors.billing.normalize import normalize_record, tombstone
from extractors.errors import RecordError
from q2c.landing import payload_hash

pytestmark = pytest.mark.unit


def _invoice(**overrides: object) -> dict:
    body = {
        "id": "in_1",
        "object": "invoice",
        "created": 1_761_955_200,
        "currency": "eur",
        "amount_due": 119_00,
        "total": 119_00,
        "lines": {"object": "list", "data": [], "has_more": False},
    }
    body.update(overrides)
    return body


def test_a_valid_invoice_lands_exactly_as_returned() -> None:
    body = _invoice()
    rec = normalize_record("invoice", body, provider_ref="evt_1")
    assert (rec.object_id, rec.provider_ref, rec.is_deleted) == ("in_1", "evt_1", False)
    assert rec.payload == body


def test_an_uppercase_currency_is_lowercased_so_the_hash_is_stable() -> None:
    upper = normalize_record("invoice", _invoice(currency="EUR"))
    lower = normalize_record("invoice", _invoice())
    assert upper.payload["currency"] == "eur"
    assert payload_hash(upper.payload) == payload_hash(lower.payload)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_invoice(id=None), "missing or empty `id`"),
        (_invoice(id=""), "missing or empty `id`"),
        (_invoice(object="charge"), "`object` is 'charge', expected 'invoice'"),
        ({k: v for k, v in _invoice().items() if k != "created"}, "non-integer `created`"),
        (_invoice(created="2026-11-01"), "non-integer `created`"),
        (_invoice(created=True), "non-integer `created`"),
        (_invoice(amount_due=119.0), "amount field `amount_due` is not an integer"),
        (_invoice(currency="euro"), "`currency` is not a 3-letter code"),
        ({k: v for k, v in _invoice().items() if k != "currency"}, "required field(s) currency"),
    ],
)
def test_an_invalid_invoice_is_refused_with_a_reason_and_its_raw_json(
    body: dict, reason: str
) -> None:
    with pytest.raises(RecordError) as info:
        normalize_record("invoice", body)
    assert reason in info.value.reason
    assert json.loads(info.value.raw)["object"] == body["object"]


def test_a_charge_without_amount_is_refused_naming_the_field_not_the_value() -> None:
    body = {"id": "ch_1", "object": "charge", "created": 1, "currency": "usd"}
    with pytest.raises(RecordError, match=r"missing required field\(s\) amount"):
        normalize_record("charge", body)


def test_a_non_object_body_is_refused() -> None:
    with pytest.raises(RecordError, match="expected a JSON object, got list"):
        normalize_record("customer", ["cus_1"])


def test_a_deleted_object_becomes_a_tombstone_in_stripes_deleted_shape() -> None:
    rec = normalize_record(
        "customer", {"id": "cus_1", "object": "customer", "deleted": True}, provider_ref="evt_9"
    )
    assert rec.is_deleted is True
    assert rec.payload == {"id": "cus_1", "object": "customer", "deleted": True}
    assert rec == tombstone("customer", "cus_1", "evt_9")


def test_a_tombstone_hash_differs_from_every_live_version() -> None:
    live = normalize_record("customer", {"id": "cus_1", "object": "customer", "created": 5})
    assert payload_hash(live.payload) != payload_hash(tombstone("customer", "cus_1", None).payload)


def test_invoice_line_items_need_no_created() -> None:
    line = {"id": "il_1", "object": "line_item", "amount": 500, "currency": "usd"}
    assert normalize_record("line_item", line, provider_ref="in_1").object_id == "il_1"


def test_a_payout_balance_transaction_is_keyed_by_payout_and_transaction() -> None:
    txn = {
        "id": "txn_1",
        "object": "balance_transaction",
        "created": 7,
        "amount": 1000,
        "currency": "usd",
    }
    rec = normalize_record("payout_balance_transaction", txn, parent_id="po_1", provider_ref="po_1")
    assert rec.object_id == "po_1:txn_1"
    assert rec.payload == txn


def test_a_payout_balance_transaction_without_its_payout_is_refused() -> None:
    txn = {
        "id": "txn_1",
        "object": "balance_transaction",
        "created": 7,
        "amount": 1,
        "currency": "usd",
    }
    with pytest.raises(RecordError, match="no payout id"):
        normalize_record("payout_balance_transaction", txn)


def test_an_event_keeps_its_data_object_snapshot() -> None:
    event = {
        "id": "evt_1",
        "object": "event",
        "created": 9,
        "type": "invoice.updated",
        "data": {"object": _invoice(status="open")},
    }
    rec = normalize_record("event", event, provider_ref="evt_1")
    assert rec.payload["data"]["object"]["status"] == "open"
