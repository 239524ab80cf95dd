"""Scales, the world's clock and the business constants every part of the generator shares.

A scale fixes how many companies the world holds; everything else (invoices, charges, balance
transactions) follows from the simulated behaviour of each company over 24 months of history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

DEFAULT_NOW = datetime(2026, 11, 1, tzinfo=UTC)
HISTORY_DAYS = 730  # 24 months of history before "now"
EVENT_DAYS = 35  # events are kept for the last 35 days of history (Stripe lists 30)
EVENT_LISTABLE_DAYS = 30
DAY = 86_400
API_VERSION = "2023-08-16"  # the version of /work/shared/reference/stripe/spec3.json


@dataclass(frozen=True)
class Scale:
    """How big a world is.

    Attributes:
        name: the scale's name (S, M, L, or a test scale).
        accounts: companies in the CRM (about 85 per cent become billing customers).
        batch: rows per executemany batch when writing.
    """

    name: str
    accounts: int
    batch: int = 5_000

    @property
    def connected_accounts(self) -> int:
        """Partner (reseller) connected accounts that receive revenue-share transfers."""
        return max(8, self.accounts // 50)

    @property
    def users(self) -> int:
        """Salesforce users: the integration user, sales reps and support agents."""
        return min(400, max(12, self.accounts // 100))


SCALES: dict[str, Scale] = {
    "XS": Scale("XS", 60),
    "S": Scale("S", 200),
    "M": Scale("M", 10_000),
    "L": Scale("L", 100_000),
}

CURRENCIES = ("usd", "eur", "gbp")

# country -> (Faker locale, currency, VAT rate in basis points charged to a customer without a
# valid VAT number (B2B EU customers with a valid number are reverse-charged), ERP subsidiary)
COUNTRIES: dict[str, tuple[str, str, int, str]] = {
    "US": ("en_US", "usd", 0, "US"),
    "GB": ("en_GB", "gbp", 2000, "UK"),
    "DE": ("de_DE", "eur", 1900, "EU"),
    "FR": ("fr_FR", "eur", 2000, "EU"),
    "NL": ("nl_NL", "eur", 2100, "EU"),
    "IE": ("en_IE", "eur", 2300, "EU"),
    "ES": ("es_ES", "eur", 2100, "EU"),
    "IT": ("it_IT", "eur", 2200, "EU"),
}
COUNTRY_WEIGHTS = (
    ("US", 50),
    ("GB", 15),
    ("DE", 10),
    ("FR", 9),
    ("NL", 5),
    ("IE", 3),
    ("ES", 4),
    ("IT", 4),
)
EU_COUNTRIES = frozenset({"DE", "FR", "NL", "IE", "ES", "IT"})
US_SALES_TAX_BPS = 600  # applied to the half of US customers in states that tax SaaS

# card processing fees per currency: (basis points, fixed minor units)
CARD_FEES: dict[str, tuple[int, int]] = {"usd": (290, 30), "eur": (150, 25), "gbp": (150, 20)}
DISPUTE_FEE: dict[str, int] = {"usd": 1500, "eur": 1500, "gbp": 1500}
PARTNER_SHARE_BPS = 2000  # resellers receive 20 per cent of what their customers pay


def epoch(dt: datetime) -> int:
    """Whole epoch seconds of an aware datetime."""
    return int(dt.timestamp())
