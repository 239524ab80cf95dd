"""The report's pure parts: money conversion (mirrors dbt's macro), periods, age buckets, the
open-item taxonomy against the contract's break kinds, and cell formatting."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from q2c.policy import load_contract
from q2c.reports.model import Column
from q2c.reports.money import (
    THREE_DECIMAL_CURRENCIES,
    ZERO_DECIMAL_CURRENCIES,
    format_amount,
    minor_to_major,
)
from q2c.reports.open_items import ACTIONS, action_for, age_bucket
from q2c.reports.period import Period
from q2c.reports.render import format_cell

pytestmark = pytest.mark.unit

CROSS_DB = Path(__file__).resolve().parents[2] / "dbt_project" / "macros" / "cross_db.sql"


def _macro_list(name: str) -> set[str]:
    body = CROSS_DB.read_text()
    match = re.search(rf"macro {name}\(\).*?\[(.*?)\]", body, re.S)
    assert match, name
    return set(re.findall(r"'([a-z]{3})'", match.group(1)))


def test_currency_decimal_lists_equal_the_dbt_macro_defaults() -> None:
    assert _macro_list("q2c_zero_decimal_currencies") == ZERO_DECIMAL_CURRENCIES
    assert _macro_list("q2c_three_decimal_currencies") == THREE_DECIMAL_CURRENCIES


@pytest.mark.parametrize(
    ("minor", "currency", "major", "text"),
    [
        (123456, "usd", Decimal("1234.56"), "1,234.56"),
        (-5, "eur", Decimal("-0.05"), "-0.05"),
        (1500, "jpy", Decimal("1500"), "1,500"),
        (1001, "kwd", Decimal("1.001"), "1.001"),
        (9007199254740993, "usd", Decimal("90071992547409.93"), "90,071,992,547,409.93"),
    ],
)
def test_minor_units_become_exact_decimals_with_the_currency_places(
    minor: int, currency: str, major: Decimal, text: str
) -> None:
    assert minor_to_major(minor, currency) == major
    assert format_amount(minor_to_major(minor, currency), currency) == text


def test_period_bounds_cover_the_month_and_roll_over_the_year() -> None:
    assert Period.parse("2026-10").start == datetime(2026, 10, 1)
    assert Period.parse("2026-12").end == datetime(2027, 1, 1)
    assert str(Period.parse("2026-02")) == "2026-02"
    for bad in ("2026-13", "2026-1", "26-10", "2026/10", ""):
        with pytest.raises(ValueError, match="YYYY-MM"):
            Period.parse(bad)


@pytest.mark.parametrize(
    ("days", "bucket"),
    [(0, "0-30"), (30, "0-30"), (31, "31-60"), (60, "31-60"), (61, "61-90"), (90, "61-90")]
    + [(91, "90+"), (726, "90+")],
)
def test_age_buckets_have_inclusive_bounds(days: int, bucket: str) -> None:
    assert age_bucket(days) == bucket


def test_a_negative_age_is_refused() -> None:
    with pytest.raises(ValueError, match="negative age"):
        age_bucket(-1)


def test_every_break_kind_of_the_contract_has_a_category_and_action() -> None:
    kinds = set(load_contract().reconciliation.break_kinds)
    missing = sorted(kinds - set(ACTIONS))
    assert not missing, f"break kinds without a category/action in open_items.ACTIONS: {missing}"
    assert {c for c, _ in ACTIONS.values()} == {"timing", "adjusting entry", "investigation"}
    assert action_for("a_kind_nobody_knows")[0] == "investigation"


def test_cells_format_money_by_the_rows_currency() -> None:
    money = Column("difference", "Difference", "money")
    assert format_cell(money, Decimal("-85.020"), {"currency": "usd"}) == "-85.02"
    assert format_cell(money, Decimal("3.5"), {"currency": "kwd"}) == "3.500"
    assert format_cell(money, None, {"currency": "usd"}) == ""
    assert format_cell(Column("n", "N", "int"), 12345, {}) == "12,345"
    assert format_cell(Column("b", "B", "bool"), False, {}) == "no"


def test_text_cells_are_scrubbed_for_the_reports_channel() -> None:
    from q2c.reports.build import mask_section
    from q2c.reports.model import Section

    section = Section(
        "dq_findings",
        "Findings",
        "",
        [Column("detail", "Detail")],
        [{"detail": "customer wrote from jane.roe@example.com, IBAN DE89370400440532013000"}],
    )
    mask_section(section)
    text = section.rows[0]["detail"]
    assert "jane.roe@example.com" not in text
    assert "DE89370400440532013000" not in text
    assert text.startswith("customer wrote from ")
