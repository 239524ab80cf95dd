"""Stripe form-encoded parameters parsed into nested values."""

from __future__ import annotations

import pytest

from sandbox.billing.errors import StripeError
from sandbox.billing.params import parse_form

pytestmark = pytest.mark.unit


def test_brackets_build_hashes_and_both_array_styles_build_lists() -> None:
    parsed = parse_form(
        [
            ("limit", "5"),
            ("created[gte]", "10"),
            ("created[lt]", "20"),
            ("expand[]", "data.customer"),
            ("expand[]", "data.invoice"),
            ("types[1]", "b"),
            ("types[0]", "a"),
            ("metadata[0]", "kept as a hash key"),
            ("items[0][price]", "price_1"),
            ("items[0][quantity]", "2"),
        ]
    )
    assert parsed == {
        "limit": "5",
        "created": {"gte": "10", "lt": "20"},
        "expand": ["data.customer", "data.invoice"],
        "types": ["a", "b"],
        "metadata": {"0": "kept as a hash key"},
        "items": [{"price": "price_1", "quantity": "2"}],
    }


def test_empty_values_are_kept_because_they_clear_fields() -> None:
    assert parse_form([("metadata[tier]", ""), ("description", "")]) == {
        "metadata": {"tier": ""},
        "description": "",
    }


@pytest.mark.parametrize(
    "pairs",
    [
        [("a[b", "1")],
        [("a]", "1")],
        [("a", "1"), ("a[b]", "2")],
        [("a[b]", "1"), ("a", "2")],
        [("a[][b]", "1")],
        [("a[]", "1"), ("a[b]", "2")],
    ],
)
def test_malformed_or_conflicting_keys_are_invalid_requests(pairs: list[tuple[str, str]]) -> None:
    with pytest.raises(StripeError) as err:
        parse_form(pairs)
    assert err.value.status == 400
    assert err.value.type == "invalid_request_error"
