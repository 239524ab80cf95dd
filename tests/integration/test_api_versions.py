"""Provider API versions are pinned by q2c, not by the SDK or the account's default."""

from __future__ import annotations

import pytest

from extractors.billing.client import (
    STRIPE_API_VERSION,
    BillingCredentials,
    RetrySettings,
    make_stripe_client,
)

pytestmark = pytest.mark.integration


def test_every_billing_request_carries_the_pinned_stripe_version(sandbox_services) -> None:
    import stripe

    assert stripe.api_version != STRIPE_API_VERSION  # the SDK's own pin is not what we send
    client = make_stripe_client(
        BillingCredentials(
            api_base=sandbox_services["Q2C_BILLING_API_BASE"],
            api_key=sandbox_services["Q2C_BILLING_API_KEY"],
        ),
        RetrySettings(sdk_max_network_retries=0),
    )
    response = client.raw_request("get", "/v1/customers", limit=1)
    # the stand-in answers with the Stripe-Version it was sent, as Stripe does
    assert response.headers["stripe-version"] == STRIPE_API_VERSION
