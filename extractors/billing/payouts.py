"""Connect payouts through the official `stripe` SDK: `StripePayoutClient` implements
`q2c.compliance.payouts.PayoutClient`.

- `available_balance(account)`: `GET /v1/balance` with `Stripe-Account: <account>`
  (https://docs.stripe.com/api/balance/balance_retrieve), the `available` amounts per currency.
- `create_payout(account, amount, currency, idempotency_key=..., metadata=...)`:
  `POST /v1/payouts` on the connected account (`Stripe-Account`), with `Idempotency-Key`
  (https://docs.stripe.com/api/payouts/create, https://docs.stripe.com/connect/manual-payouts,
  https://docs.stripe.com/api/idempotent_requests): a retry with the same key and parameters
  gets the same payout back, never a second one.
- The SDK retries network errors, 409 and 5xx with the same idempotency key
  (`max_network_retries`); what still fails is `PayoutTransientError` (rate limits, 5xx,
  connection) and a refusal (any other 4xx) is `PayoutRefusedError` with Stripe's error code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import stripe

from extractors.billing.client import BillingCredentials, RetrySettings, make_stripe_client
from q2c.compliance.payouts import PayoutRefusedError, PayoutTransientError


class StripePayoutClient:
    """Payouts of connected accounts on the billing platform (see the module docstring)."""

    def __init__(
        self,
        creds: BillingCredentials,
        retry: RetrySettings | None = None,
        *,
        stripe_client: stripe.StripeClient | None = None,
    ) -> None:
        self._stripe = stripe_client or make_stripe_client(creds, retry or RetrySettings())

    def available_balance(self, account_id: str) -> dict[str, int]:
        balance = self._call(
            lambda: self._stripe.v1.balance.retrieve(options={"stripe_account": account_id})
        ).to_dict()
        out: dict[str, int] = {}
        for item in balance.get("available") or []:
            out[str(item["currency"])] = out.get(str(item["currency"]), 0) + int(item["amount"])
        return out

    def create_payout(
        self,
        account_id: str,
        amount: int,
        currency: str,
        *,
        idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> dict[str, Any]:
        payout = self._call(
            lambda: self._stripe.v1.payouts.create(
                {"amount": amount, "currency": currency, "metadata": dict(metadata)},
                options={"stripe_account": account_id, "idempotency_key": idempotency_key},
            )
        )
        return payout.to_dict()

    @staticmethod
    def _call(fn: Any) -> Any:
        try:
            return fn()
        except (stripe.RateLimitError, stripe.APIConnectionError, stripe.APIError) as exc:
            raise PayoutTransientError(f"{type(exc).__name__}: {exc.user_message}") from exc
        except stripe.StripeError as exc:
            code = (exc.error.code if exc.error else None) or exc.code or type(exc).__name__
            raise PayoutRefusedError(str(code), str(exc.user_message or exc)) from exc
