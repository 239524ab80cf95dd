"""FBAR screening in the period report, on the S world's shared DuckDB build: each foreign
account the contract names (an ERP bank GL role) gets its highest end-of-day balance of the
calendar year from the ledger (checked here with a window query), converted at the contract's
Treasury rate; above $10,000 in aggregate the workflow item is due April 15 with the automatic
extension to October 15; account numbers show at most six + four characters; a currency
without a rate is said; and the section reaches the HTML, XLSX and JSON report."""

from __future__ import annotations

import json
import zipfile
from datetime import date, datetime
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

import pytest

from q2c.policy import load_contract
from q2c.policy.model import Contract
from q2c.reports import Period, build_report, write_report
from q2c.reports.fbar import fbar
from q2c.reports.reader import WarehouseReader
from q2c.warehouse import Warehouse
from tests.support.reports import s_duckdb

pytestmark = pytest.mark.integration

PERIOD = Period(2026, 10)


@pytest.fixture(scope="module")
def db(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return s_duckdb(world_s, tmp_path_factory)


def _contract(**fbar_changes: object) -> Contract:
    data = load_contract().model_dump()
    data["reporting"]["fbar"].update(fbar_changes)
    return Contract.model_validate(data)


def _max_daily_balance(wh: Warehouse, acctnumber: str) -> Decimal:
    (value,) = wh.fetchone(
        "with daily as (select t.transaction_date as day,"
        " sum(l.debit_amount - l.credit_amount) as net"
        " from staging.stg_erp__transaction_lines l"
        " join intermediate.int_erp_transactions__enriched t"
        "   on t.erp_transaction_id = l.erp_transaction_id"
        " join staging.stg_erp__accounts a on a.erp_account_id = l.erp_account_id"
        " where not l.is_deleted and not t.is_deleted and a.account_number = ?"
        " and t.transaction_date < ? group by 1),"
        " running as (select day, sum(net) over (order by day) as balance from daily)"
        " select max(balance) from running where day >= ?",
        [acctnumber, date(2026, 11, 1), date(2026, 1, 1)],
    )
    return Decimal(value)


def test_each_foreign_account_and_the_filing_item(db: Path) -> None:
    contract = load_contract()
    settings = contract.reporting.fbar
    with Warehouse.from_url(f"duckdb:///{db}") as wh:
        section = fbar(WarehouseReader(wh), PERIOD, contract)
        expected = {
            role: _max_daily_balance(wh, contract.gl_account(role).acctnumber)
            for role in settings.foreign_accounts
        }
    accounts, item = section.rows[:-1], section.rows[-1]
    assert len(accounts) == len(settings.foreign_accounts) == 2
    total = Decimal(0)
    for row, (role, highest) in zip(accounts, expected.items(), strict=True):
        gl = contract.gl_account(role)
        assert row["currency"] == gl.currency and row["max_value"] == highest > 0
        rate = Decimal(settings.treasury_rates[2025][gl.currency])  # no 2026 rate yet
        assert row["rate"] == rate and "(rate of 2025)" in row["item"]
        assert row["max_value_usd"] == (highest / rate).quantize(Decimal("0.01"), ROUND_CEILING)
        total += row["max_value_usd"]
        number = settings.foreign_accounts[role].account_number
        shown = row["account"]
        assert shown[:6] == number[:6] and shown[-4:] == number[-4:]
        assert number[6:-4] not in shown and set(shown[6:-4]) == {"*"}
    assert item["max_value_usd"] == total
    assert item["status"].startswith("filing required")
    assert (item["due"], item["extended_due"]) == (date(2027, 4, 15), date(2027, 10, 15))
    assert item["owner"].startswith("Olu Adebayo")


def test_under_the_threshold_or_without_a_rate_nothing_is_due(db: Path) -> None:
    with Warehouse.from_url(f"duckdb:///{db}") as wh:
        reader = WarehouseReader(wh)
        high = fbar(reader, PERIOD, _contract(threshold_minor=10**12))
        no_rate = fbar(reader, PERIOD, _contract(treasury_rates={2025: {"eur": "0.852"}}))
    assert high.rows[-1]["status"].startswith("not required") and high.rows[-1]["due"] is None
    assert no_rate.rows[1]["status"] == "no Treasury rate for GBP"
    assert no_rate.rows[-1]["status"].startswith("cannot be decided: no Treasury rate for GBP")
    assert no_rate.rows[-1]["due"] is None


def test_the_item_is_in_every_report_file(db: Path, tmp_path: Path) -> None:
    with Warehouse.from_url(f"duckdb:///{db}") as wh:
        report = build_report(
            wh, load_contract(), PERIOD, run_id="fbar", generated_at=datetime(2026, 11, 2)
        )
    paths = write_report(report, tmp_path)
    assert "FBAR (FinCEN 114) for calendar year 2026" in paths["html"].read_text()
    rows = json.loads(paths["json"].read_text())["sections"]["fbar"]["rows"]
    assert rows[-1]["due"] == "2027-04-15" and rows[-1]["extended_due"] == "2027-10-15"
    assert "DE89370400440532013000" not in paths["html"].read_text()
    with zipfile.ZipFile(paths["xlsx"]) as xlsx:
        workbook = xlsx.read("xl/workbook.xml").decode()
    assert "FBAR" in workbook, workbook[:500]
