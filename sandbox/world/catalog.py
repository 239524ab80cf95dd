"""The price book: products, per-seat prices (monthly and annual) per currency, coupons, tax rates.

Built once per world from its own seeded stream, before any company, and dated before the
history starts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from sandbox.world.config import COUNTRIES, CURRENCIES, DAY, US_SALES_TAX_BPS
from sandbox.world.ids import stripe_id

# product key -> (name, monthly per-seat unit amount in usd/eur/gbp minor units)
PLANS: dict[str, tuple[str, dict[str, int]]] = {
    "starter": ("Starter", {"usd": 1500, "eur": 1400, "gbp": 1200}),
    "growth": ("Growth", {"usd": 4000, "eur": 3700, "gbp": 3200}),
    "enterprise": ("Enterprise", {"usd": 9000, "eur": 8300, "gbp": 7200}),
}
SERVICES = ("onboarding", "Onboarding services", {"usd": 150000, "eur": 140000, "gbp": 120000})
ANNUAL_MONTHS = 10  # annual plans cost ten months


@dataclass
class Catalog:
    """Everything a company's subscription is priced from."""

    products: list[dict[str, Any]] = field(default_factory=list)
    prices: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    service_prices: dict[str, dict[str, Any]] = field(default_factory=dict)
    coupons: list[dict[str, Any]] = field(default_factory=list)
    tax_rates: dict[str, dict[str, Any]] = field(default_factory=dict)


def _price(rng, product_id, currency, unit, created, interval, nickname) -> dict[str, Any]:
    return {
        "id": stripe_id(rng, "price"),
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": created,
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": nickname,
        "product": product_id,
        "recurring": None
        if interval is None
        else {
            "aggregate_usage": None,
            "interval": interval,
            "interval_count": 1,
            "trial_period_days": None,
            "usage_type": "licensed",
        },
        "tax_behavior": "exclusive",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "one_time" if interval is None else "recurring",
        "unit_amount": unit,
        "unit_amount_decimal": str(unit),
    }


def build_catalog(seed: int, start: int) -> Catalog:
    """The price book of world `seed`, created about 90 days before `start`."""
    rng = random.Random(f"{seed}:catalog")
    created = start - 90 * DAY
    cat = Catalog()
    for key, (name, units) in [*PLANS.items(), (SERVICES[0], (SERVICES[1], SERVICES[2]))]:
        product = {
            "id": stripe_id(rng, "prod", 14),
            "object": "product",
            "active": True,
            "created": created,
            "default_price": None,
            "description": f"{name} plan, billed per seat"
            if key != "onboarding"
            else "One-off onboarding and data migration",
            "features": [],
            "images": [],
            "livemode": False,
            "metadata": {"plan": key},
            "name": name,
            "package_dimensions": None,
            "shippable": None,
            "statement_descriptor": None,
            "tax_code": "txcd_10103001",
            "unit_label": "seat" if key != "onboarding" else None,
            "updated": created,
            "url": None,
        }
        for currency in CURRENCIES:
            if key == "onboarding":
                cat.service_prices[currency] = _price(
                    rng, product["id"], currency, units[currency], created, None, name
                )
                continue
            for interval, months in (("month", 1), ("year", ANNUAL_MONTHS)):
                cat.prices[(key, currency, interval)] = _price(
                    rng,
                    product["id"],
                    currency,
                    units[currency] * months,
                    created,
                    interval,
                    f"{name} {interval}ly {currency.upper()}",
                )
        product["default_price"] = (
            cat.service_prices["usd"]["id"]
            if key == "onboarding"
            else cat.prices[(key, "usd", "month")]["id"]
        )
        cat.products.append(product)
    coupon_specs = [
        ("WELCOME20", {"percent_off": 20.0, "duration": "repeating", "duration_in_months": 3}),
        ("PARTNER10", {"percent_off": 10.0, "duration": "forever"}),
        ("ANNUAL15", {"percent_off": 15.0, "duration": "once"}),
        ("FIFTYOFF", {"amount_off": 5000, "currency": "usd", "duration": "once"}),
    ]
    for name, spec in coupon_specs:
        cat.coupons.append(
            {
                "id": name,
                "object": "coupon",
                "amount_off": spec.get("amount_off"),
                "created": created,
                "currency": spec.get("currency"),
                "duration": spec["duration"],
                "duration_in_months": spec.get("duration_in_months"),
                "livemode": False,
                "max_redemptions": None,
                "metadata": {},
                "name": name,
                "percent_off": spec.get("percent_off"),
                "redeem_by": None,
                "times_redeemed": 0,
                "valid": True,
            }
        )
    for country, (_, _, bps, _) in [*COUNTRIES.items(), ("US-TAX", ("", "", US_SALES_TAX_BPS, ""))]:
        if not bps:
            continue
        label = "Sales Tax" if country == "US-TAX" else "VAT"
        cat.tax_rates[country] = {
            "id": stripe_id(rng, "txr"),
            "object": "tax_rate",
            "active": True,
            "country": "US" if country == "US-TAX" else country,
            "created": created,
            "description": f"{label} {country}",
            "display_name": label,
            "effective_percentage": bps / 100,
            "inclusive": False,
            "jurisdiction": "US" if country == "US-TAX" else country,
            "livemode": False,
            "metadata": {},
            "percentage": bps / 100,
            "state": None,
            "tax_type": "sales_tax" if country == "US-TAX" else "vat",
        }
    return cat
