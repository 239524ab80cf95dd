"""Unit tests of the landing's pure parts: canonical JSON, hashes, table names, records."""

from __future__ import annotations

import hashlib

import pytest

from q2c.landing import RawRecord, canonical_json, payload_hash, raw_table_name
from q2c.warehouse import Warehouse

pytestmark = pytest.mark.unit


def test_canonical_json_sorts_keys_and_drops_whitespace() -> None:
    assert canonical_json({"b": 1, "a": {"d": [1, 2], "c": None}}) == (
        '{"a":{"c":null,"d":[1,2]},"b":1}'
    )


def test_payload_hash_ignores_key_order() -> None:
    assert payload_hash({"id": "in_1", "amount_due": 1999}) == payload_hash(
        {"amount_due": 1999, "id": "in_1"}
    )


def test_payload_hash_is_sha256_of_the_canonical_utf8_text() -> None:
    payload = {"name": "Zoë Müller", "currency": "eur"}
    expected = hashlib.sha256('{"currency":"eur","name":"Zoë Müller"}'.encode()).hexdigest()
    assert payload_hash(payload) == expected


def test_payload_hash_changes_when_a_value_changes() -> None:
    assert payload_hash({"id": "in_1", "status": "draft"}) != payload_hash(
        {"id": "in_1", "status": "open"}
    )


def test_raw_table_name_joins_source_and_object_with_double_underscore() -> None:
    assert raw_table_name("billing", "payout_balance_transaction") == (
        "billing__payout_balance_transaction"
    )


@pytest.mark.parametrize("bad", ["Invoice", "in voice", "invoice;drop", "", "1abc"])
def test_raw_table_name_refuses_unsafe_names(bad: str) -> None:
    with pytest.raises(ValueError, match="not a valid identifier"):
        raw_table_name("billing", bad)


def test_raw_record_defaults_to_not_deleted() -> None:
    assert RawRecord("cus_1", None, {"id": "cus_1"}).is_deleted is False


def test_warehouse_from_url_knows_duckdb_and_postgres() -> None:
    assert Warehouse.from_url("duckdb:///tmp/x.duckdb").dialect == "duckdb"
    assert Warehouse.from_url("postgresql://u@h:5432/db").dialect == "postgres"
    assert Warehouse.from_url("postgres://u@h/db").dialect == "postgres"


def test_warehouse_from_url_names_the_accepted_forms_for_an_unknown_scheme() -> None:
    with pytest.raises(ValueError, match=r"duckdb:///<path> or postgresql://"):
        Warehouse.from_url("mysql://u@h/db")
