"""Money in the report: exact `Decimal` amounts in major units, each with its currency.

Stripe-style integer minor units become major units with the currency's decimal places
(https://docs.stripe.com/currencies): 0 for the zero-decimal currencies, 3 for the
three-decimal ones, 2 for every other. The two lists mirror dbt's `minor_to_major` macro
(`dbt_project/macros/cross_db.sql`, `q2c_zero_decimal_currencies` and
`q2c_three_decimal_currencies`); tests/unit/test_reports_money.py fails when they drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

ZERO_DECIMAL_CURRENCIES = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)
THREE_DECIMAL_CURRENCIES = frozenset("bhd jod kwd omr tnd".split())


def currency_decimals(currency: str) -> int:
    """Decimal places of `currency` (lowercase or uppercase ISO code)."""
    code = currency.lower()
    if code in ZERO_DECIMAL_CURRENCIES:
        return 0
    if code in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def minor_to_major(amount_minor: int, currency: str) -> Decimal:
    """`1234, "usd"` -> `Decimal("12.34")`; exact (a scaled integer, never a float)."""
    return Decimal(int(amount_minor)).scaleb(-currency_decimals(currency))


def quantize(amount: Decimal, currency: str) -> Decimal:
    """`amount` with exactly the currency's decimal places (12.3 usd -> 12.30)."""
    return Decimal(amount).quantize(Decimal(1).scaleb(-currency_decimals(currency)))


@dataclass(frozen=True)
class Money:
    """An exact amount in major units and its lowercase currency."""

    amount: Decimal
    currency: str

    def __str__(self) -> str:
        return f"{format_amount(self.amount, self.currency)} {self.currency.upper()}"


def format_amount(amount: Decimal, currency: str) -> str:
    """`Decimal("-1234.5"), "usd"` -> `-1,234.50` (grouped, the currency's places)."""
    places = currency_decimals(currency)
    return f"{quantize(amount, currency):,.{places}f}"
