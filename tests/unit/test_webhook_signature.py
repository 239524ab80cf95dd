"""Stripe webhook signatures: ours agree with the official SDK's, rotation, refusals."""

from __future__ import annotations

import pytest
import stripe

from extractors.billing.webhooks import (
    MalformedEvent,
    SignatureError,
    parse_event,
    sign,
    verify_signature,
)
from sandbox.billing.webhook_sender import signature_header

pytestmark = pytest.mark.unit

SECRET = "whsec_test_current_0123456789"
OLD_SECRET = "whsec_test_previous_9876543210"
BODY = (
    b'{"id":"evt_1","object":"event","type":"customer.updated","created":1700000000,'
    b'"data":{"object":{"id":"cus_1","object":"customer"}}}'
)
NOW = 1_800_000_000


def sdk_header(body: bytes, secret: str, timestamp: int) -> str:
    """The header the official stripe SDK computes for unit tests."""
    return stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp)


def test_a_header_signed_by_the_stripe_sdk_verifies_and_returns_its_timestamp() -> None:
    header = sdk_header(BODY, SECRET, NOW)
    assert verify_signature(BODY, header, [SECRET], now=NOW + 10) == NOW


def test_our_signature_is_the_one_the_stripe_sdk_accepts() -> None:
    header = f"t={NOW},v1={sign(BODY, SECRET, NOW)}"
    assert stripe.WebhookSignature.verify_header(BODY, header, SECRET, tolerance=None)
    # and the sandbox sender's header is accepted by the SDK too
    assert stripe.WebhookSignature.verify_header(
        BODY, signature_header(BODY, [SECRET], NOW), SECRET, tolerance=None
    )


def test_during_a_rotation_any_configured_secret_and_any_v1_of_the_header_verifies() -> None:
    both = signature_header(BODY, [OLD_SECRET, SECRET], NOW)
    assert both.count("v1=") == 2
    assert verify_signature(BODY, both, [SECRET], now=NOW) == NOW
    assert verify_signature(BODY, both, [OLD_SECRET], now=NOW) == NOW
    only_old = sdk_header(BODY, OLD_SECRET, NOW)
    assert verify_signature(BODY, only_old, [SECRET, OLD_SECRET], now=NOW) == NOW
    with pytest.raises(SignatureError) as err:
        verify_signature(BODY, only_old, [SECRET], now=NOW)
    assert err.value.reason == "bad_signature"


def test_other_schemes_are_ignored_and_a_header_without_v1_is_refused() -> None:
    v0 = f"t={NOW},v0={sign(BODY, SECRET, NOW)}"
    with pytest.raises(SignatureError) as err:
        verify_signature(BODY, v0, [SECRET], now=NOW)
    assert err.value.reason == "no_v1_signature"
    mixed = f"t={NOW},v0=abc,v1={sign(BODY, SECRET, NOW)}"
    assert verify_signature(BODY, mixed, [SECRET], now=NOW) == NOW


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing_signature"),
        ("", "missing_signature"),
        ("v1=abc", "malformed_signature"),
        ("t=soon,v1=abc", "malformed_signature"),
        (f"t={NOW},v1={'0' * 64}", "bad_signature"),
    ],
)
def test_bad_headers_are_refused_with_their_reason(header: str | None, reason: str) -> None:
    with pytest.raises(SignatureError) as err:
        verify_signature(BODY, header, [SECRET], now=NOW)
    assert err.value.reason == reason
    assert SECRET not in str(err.value)


def test_a_changed_body_no_longer_verifies() -> None:
    header = sdk_header(BODY, SECRET, NOW)
    with pytest.raises(SignatureError) as err:
        verify_signature(BODY.replace(b"cus_1", b"cus_2"), header, [SECRET], now=NOW)
    assert err.value.reason == "bad_signature"


@pytest.mark.parametrize("offset", [301, -301, 86_400])
def test_a_timestamp_outside_the_tolerance_is_stale(offset: int) -> None:
    header = sdk_header(BODY, SECRET, NOW - offset)
    with pytest.raises(SignatureError) as err:
        verify_signature(BODY, header, [SECRET], tolerance_s=300, now=NOW)
    assert err.value.reason == "stale_timestamp"


def test_the_tolerance_is_configurable() -> None:
    header = sdk_header(BODY, SECRET, NOW - 600)
    assert verify_signature(BODY, header, [SECRET], tolerance_s=900, now=NOW) == NOW - 600
    assert verify_signature(BODY, sdk_header(BODY, SECRET, NOW - 300), [SECRET], now=NOW)


def test_no_secret_configured_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="Q2C_BILLING_WEBHOOK_SECRETS"):
        verify_signature(BODY, sdk_header(BODY, SECRET, NOW), [], now=NOW)


def test_parse_event_takes_an_event_and_refuses_anything_else() -> None:
    assert parse_event(BODY)["id"] == "evt_1"
    for body in (
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"object":"customer","id":"cus_1"}',
        b'{"object":"event","id":"evt_1","type":"x","created":1,"data":{}}',
    ):
        with pytest.raises(MalformedEvent):
            parse_event(body)
