"""FBAR screening (FinCEN Report 114) in the period report.

A US person must file when the aggregate maximum value of its financial accounts outside the
United States exceeds $10,000 at any time in the calendar year (31 CFR 1010.350, 1010.306:
due April 15 of the next year, automatic extension to October 15). Which accounts are abroad
is the contract's (`reporting.fbar.foreign_accounts`: an ERP bank GL role of
`erp.chart_of_accounts` -> country, institution, account number); nothing is hard-coded.

Each account's maximum value is the highest end-of-day balance of its GL account in the ERP
ledger (staged transaction lines, every posting from the first) on any day of the period's
calendar year up to the period's end, in the account's own currency; it is converted with the
Treasury Reporting Rate of Exchange of December 31 the contract gives for that year (foreign
units per US dollar; a year without rates uses the latest earlier year's, and the row says so),
rounded up to the next cent. The aggregate over the accounts above the threshold is a workflow
item with its due dates and owner. Account numbers show at most their first six and last four
characters (`q2c.masking` `mask`). A currency without any rate is said, never left out.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_CEILING, Decimal
from typing import Any

from q2c.masking.treatments import mask_account_number
from q2c.policy.model import Contract, Fbar
from q2c.reports.model import Column, Section
from q2c.reports.period import Period
from q2c.reports.reader import WarehouseReader

CENT = Decimal("0.01")
USD = "usd"


def fbar(reader: WarehouseReader, period: Period, contract: Contract) -> Section:
    """The FBAR section: each foreign account's maximum value and the filing workflow item."""
    columns = [
        Column("item", "Item"),
        Column("account", "Account (masked)"),
        Column("country", "Country"),
        Column("max_value", "Maximum value in the year", "money"),
        Column("currency", "Currency"),
        Column("rate", "Treasury rate (per USD)", "decimal"),
        Column("max_value_usd", "Maximum value in USD", "money", "usd_currency"),
        Column("usd_currency", "USD"),
        Column("status", "Status"),
        Column("due", "Due", "datetime"),
        Column("extended_due", "Extended due (automatic)", "datetime"),
        Column("owner", "Owner"),
    ]
    section = Section(
        "fbar",
        "FBAR (FinCEN 114) screening",
        f"Foreign financial accounts (the contract's reporting.fbar) in calendar year "
        f"{period.year} up to the period's end: each one's highest end-of-day balance in the "
        "ERP ledger, at the Treasury's year-end rate; an aggregate above the threshold is a "
        "filing due April 15 (automatic extension to October 15).",
        columns,
        sources=("staging.stg_erp__transaction_lines", "staging.stg_erp__accounts"),
    )
    # values are contract text and masked account numbers: the scrub must not touch them
    section.q2c_text = True
    settings = contract.reporting.fbar if contract.reporting else None
    if settings is None:
        section.status, section.note = "none", "the contract names no foreign accounts"
        return section
    if not reader.has("staging", "stg_erp__transaction_lines", "debit_amount"):
        section.status, section.note = "unavailable", "no staged ERP ledger lines"
        return section
    year_start = date(period.year, 1, 1)
    total, unconverted = Decimal(0), []
    for role, account in settings.foreign_accounts.items():
        gl = contract.erp.chart_of_accounts.get(role)
        if gl is None or gl.accttype != "Bank" or gl.currency is None:
            raise ValueError(
                f"reporting.fbar.foreign_accounts names {role!r}, not a Bank account with a "
                "currency in erp.chart_of_accounts"
            )
        highest = _max_balance(reader, gl.acctnumber, year_start, period.end.date())
        rate, rate_year = _rate(settings, period.year, gl.currency)
        usd = (highest / rate).quantize(CENT, ROUND_CEILING) if rate else None
        if usd is None:
            unconverted.append(gl.currency.upper())
        else:
            total += max(usd, Decimal(0))
        note = "" if rate_year in (None, period.year) else f" (rate of {rate_year})"
        section.rows.append(
            {
                "item": f"{account.institution}, GL {gl.acctnumber}{note}",
                "account": mask_account_number(account.account_number),
                "country": account.country,
                "max_value": highest,
                "currency": gl.currency,
                "rate": rate,
                "max_value_usd": usd,
                "usd_currency": USD,
                "status": "converted" if rate else f"no Treasury rate for {gl.currency.upper()}",
                "due": None,
                "extended_due": None,
                "owner": None,
            }
        )
    section.rows.append(_workflow_item(contract, settings, period.year, total, unconverted))
    return section


def _workflow_item(
    contract: Contract, settings: Fbar, year: int, total: Decimal, unconverted: list[str]
) -> dict[str, Any]:
    threshold = Decimal(settings.threshold_minor) / 100
    if unconverted:
        status = (
            f"cannot be decided: no Treasury rate for {', '.join(unconverted)} "
            f"(add reporting.fbar.treasury_rates)"
        )
    elif total > threshold:
        status = f"filing required: aggregate maximum above {threshold} USD"
    else:
        status = f"not required so far: aggregate maximum at or under {threshold} USD"
    required = not unconverted and total > threshold
    owner = contract.reporting.preparer if contract.reporting else None
    person = contract.stakeholders.get(owner) if owner else None
    return {
        "item": f"FBAR (FinCEN 114) for calendar year {year}",
        "account": None,
        "country": None,
        "max_value": None,
        "currency": None,
        "rate": None,
        "max_value_usd": total,
        "usd_currency": USD,
        "status": status,
        "due": date(year + 1, 4, 15) if required else None,
        "extended_due": date(year + 1, 10, 15) if required else None,
        "owner": f"{person.name} ({person.role})" if person else None,
    }


def _rate(settings: Fbar, year: int, currency: str) -> tuple[Decimal | None, int | None]:
    """The year's rate for `currency`, else the latest earlier year's (and which year)."""
    for y in sorted((y for y in settings.treasury_rates if y <= year), reverse=True):
        value = settings.treasury_rates[y].get(currency.lower())
        if value is not None:
            return Decimal(value), y
    return None, None


def _max_balance(reader: WarehouseReader, acctnumber: str, start: date, end: date) -> Decimal:
    """The highest end-of-day balance (debits - credits) of a GL account on a day in
    [start, end), counting every posting before; the opening balance counts as day one's."""
    days = reader.rows(
        "select transactions.transaction_date,"
        " sum(lines.debit_amount - lines.credit_amount)"
        " from staging.stg_erp__transaction_lines as lines"
        " inner join intermediate.int_erp_transactions__enriched as transactions"
        "   on transactions.erp_transaction_id = lines.erp_transaction_id"
        " inner join staging.stg_erp__accounts as accounts"
        "   on accounts.erp_account_id = lines.erp_account_id"
        " where not lines.is_deleted and not transactions.is_deleted"
        " and accounts.account_number = ? and transactions.transaction_date < ?"
        " group by transactions.transaction_date",
        ["day", "net"],
        [acctnumber, end],
        order=["day"],
    )
    balance = opening = Decimal(0)
    highest: Decimal | None = None
    for d in days:
        day = d["day"].date() if hasattr(d["day"], "date") else d["day"]
        balance += Decimal(d["net"] or 0)
        if day < start:
            opening = balance
            continue
        highest = max(opening if highest is None else highest, balance)
    return opening if highest is None else highest
