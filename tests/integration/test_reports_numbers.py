"""Every number of the period report equals the warehouse's: on the S world's DuckDB build
(shared with tests/integration/test_dbt_build.py), the report for 2026-10 is compared with
sums this test computes itself in Python (Decimal) from full reads of the marts, the rec_*
tables, the staged balance transactions and the ERP ledger lines; then the HTML page and the
XLSX workbook are compared with the report, and no PII value of the world is in either.
"""

from __future__ import annotations

import re
import sqlite3
import zipfile
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import duckdb
import pytest

from q2c.policy import load_contract
from q2c.reports import Period, Report, build_report, write_report
from q2c.reports.money import minor_to_major, quantize
from q2c.reports.render import format_cell
from q2c.warehouse import Warehouse
from tests.support.reports import s_duckdb

pytestmark = pytest.mark.integration

PERIOD = Period(2026, 10)
START, END = datetime(2026, 10, 1), datetime(2026, 11, 1)


@pytest.fixture(scope="module")
def s_db(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return s_duckdb(world_s, tmp_path_factory)


@pytest.fixture(scope="module")
def report_and_files(
    s_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Report, dict[str, Path]]:
    with Warehouse.from_url(f"duckdb:///{s_db}") as wh:
        report = build_report(
            wh, load_contract(), PERIOD, run_id="test-run", generated_at=datetime(2026, 11, 2)
        )
    return report, write_report(report, tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def report(report_and_files: tuple[Report, dict[str, Path]]) -> Report:
    return report_and_files[0]


@pytest.fixture(scope="module")
def tables(s_db: Path) -> dict[str, list[dict[str, Any]]]:
    """Whole tables as dicts with the warehouse's exact types (no pandas: it would make
    DECIMALs floats)."""
    con = duckdb.connect(str(s_db), read_only=True)
    out = {}
    try:
        for name in (
            "reconciliation.rec_breaks",
            "reconciliation.rec_summary",
            "reconciliation.rec_verdict",
            "marts.fct_invoices",
            "marts.fct_payments",
            "marts.fct_refunds",
            "marts.fct_payouts",
            "staging.stg_billing__balance_transactions",
            "staging.stg_erp__transaction_lines",
            "staging.stg_erp__accounts",
            "intermediate.int_erp_transactions__enriched",
        ):
            cur = con.execute(f"select * from {name}")
            cols = [d[0] for d in cur.description]
            out[name] = [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()
    return out


def _in_period(value: Any) -> bool:
    return value is not None and START <= value < END


# ---------------------------------------------------------------- the report vs the warehouse
def test_open_items_are_every_open_break_before_the_periods_end(
    report: Report, tables: dict[str, list[dict[str, Any]]]
) -> None:
    expected = {
        b["break_id"]: (b["source_amount"], b["target_amount"], b["difference_amount"])
        + (b["currency"], b["age_days"], b["break_kind"])
        for b in tables["reconciliation.rec_breaks"]
        if b["occurred_at"] < END
    }
    rows = report.section("open_items").rows
    got = {
        r["break_id"]: (r["source_amount"], r["target_amount"], r["difference"])
        + (r["currency"], r["age_days"], r["break_kind"])
        for r in rows
    }
    assert len(rows) == len(got) == len(expected) > 200
    assert got == expected
    assert {r["age_bucket"] for r in rows} == {"0-30", "31-60", "61-90", "90+"}


def test_breaks_of_the_period_equal_rec_summary(
    report: Report, tables: dict[str, list[dict[str, Any]]]
) -> None:
    expected = sorted(
        (s["reconciliation"], s["break_kind"], s["currency"], s["break_count"])
        + (s["unexplained_amount"], s["oldest_age_days"])
        for s in tables["reconciliation.rec_summary"]
        if s["period_month"] == date(2026, 10, 1)
    )
    got = sorted(
        (r["reconciliation"], r["break_kind"], r["currency"], r["breaks"])
        + (r["unexplained"], r["oldest_age_days"])
        for r in report.section("breaks").rows
    )
    assert got == expected and len(got) >= 5


def test_verdict_equals_rec_verdict(
    report: Report, tables: dict[str, list[dict[str, Any]]]
) -> None:
    keys = ("phase", "metric", "currency", "break_kind", "max_value", "measured_value")
    expected = sorted(
        tuple(v[k] for k in keys) + (v["is_passing"],) for v in tables["reconciliation.rec_verdict"]
    )
    got = sorted(
        tuple(r[k] for k in keys) + (r["is_passing"],) for r in report.section("verdict").rows
    )
    assert got == expected
    clean = {v["phase"]: v["is_phase_clean"] for v in tables["reconciliation.rec_verdict"]}
    for phase, is_clean in clean.items():
        assert f"{phase}: {'clean' if is_clean else 'not clean'}" in report.header["verdict"]


def test_balance_summary_rolls_the_balance_transactions_forward(
    report: Report, tables: dict[str, list[dict[str, Any]]]
) -> None:
    opening: dict[str, int] = defaultdict(int)
    closing: dict[str, int] = defaultdict(int)
    activity: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for bt in tables["staging.stg_billing__balance_transactions"]:
        if bt["is_deleted"]:
            continue
        cur = bt["currency"]
        if bt["created_at"] < START:
            opening[cur] += bt["net_amount"]
        if bt["created_at"] < END:
            closing[cur] += bt["net_amount"]
        if _in_period(bt["created_at"]):
            line = "payouts" if bt["reporting_category"] == "payout" else bt["reporting_category"]
            acc = activity[(cur, line)]
            for i, v in enumerate((1, bt["amount"], bt["fee_amount"], bt["net_amount"])):
                acc[i] += v
    rows = {(r["currency"], r["line"]): r for r in report.section("balance_summary").rows}
    for cur in closing:
        assert rows[(cur, "opening balance")]["net"] == minor_to_major(opening[cur], cur)
        assert rows[(cur, "closing balance")]["net"] == minor_to_major(closing[cur], cur)
    for (cur, line), (count, gross, fee, net) in activity.items():
        row = rows[(cur, line)]
        assert row["count"] == count
        assert row["net"] == minor_to_major(net, cur)
        if line != "payouts":
            assert (row["gross"], row["fee"]) == (
                minor_to_major(gross, cur),
                minor_to_major(fee, cur),
            )
    assert len(rows) == 2 * len(closing) + len(activity)
    assert all(r["holds"] for r in report.section("identities").rows if "closing" in r["identity"])


def test_matched_and_unmatched_equal_the_marts_and_breaks(
    report: Report, tables: dict[str, list[dict[str, Any]]]
) -> None:
    broken: dict[str, set[str]] = defaultdict(set)
    for b in tables["reconciliation.rec_breaks"]:
        broken[b["reconciliation"]].add(b["source_object_id"])
    posted = set(load_contract().rules.posted_invoice_statuses)
    populations = {
        "rec_erp_invoices": [
            (i["invoice_id"], i["currency"], i["total_amount"], i["is_posted_in_erp"])
            for i in tables["marts.fct_invoices"]
            if i["invoice_status"] in posted
            and not i["is_deleted"]
            and _in_period(i["finalized_at"])
        ],
        "rec_erp_payments": [
            (p["charge_id"], p["currency"], p["amount"], p["is_posted_in_erp"])
            for p in tables["marts.fct_payments"]
            if p["is_succeeded"] and _in_period(p["created_at"])
        ],
        "rec_erp_refunds": [
            (r["refund_id"], r["currency"], r["amount"], r["is_posted_in_erp"])
            for r in tables["marts.fct_refunds"]
            if r["refund_status"] == "succeeded" and _in_period(r["created_at"])
        ],
        "rec_payouts": [
            (p["payout_id"], p["currency"], p["payout_amount"], p["is_posted_in_erp"])
            for p in tables["marts.fct_payouts"]
            if _in_period(p["created_at"])
        ],
    }
    expected = {}
    for rec, objects in populations.items():
        acc: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for oid, cur, amount, is_posted in objects:
            matched = is_posted and oid not in broken[rec]
            a = acc[cur]
            a[0] += 1
            a[1] += amount
            a[2] += int(matched)
            a[3] += amount if matched else 0
        for cur, (n, amount, m, m_amount) in acc.items():
            expected[(rec, cur)] = (
                n,
                minor_to_major(amount, cur),
                m,
                minor_to_major(m_amount, cur),
                n - m,
                minor_to_major(amount - m_amount, cur),
            )
    got = {
        (r["reconciliation"], r["currency"]): (
            r["objects"],
            r["amount"],
            r["matched"],
            r["matched_amount"],
            r["unmatched"],
            r["unmatched_amount"],
        )
        for r in report.section("matching").rows
    }
    assert got == expected
    assert any(v[4] for v in got.values()), "S has unmatched objects in 2026-10"


def test_tie_outs_equal_the_ledger_and_billing_sums(
    report: Report, tables: dict[str, list[dict[str, Any]]]
) -> None:
    coa = load_contract().erp.chart_of_accounts
    accounts = {
        a["erp_account_id"]: a["account_number"] for a in tables["staging.stg_erp__accounts"]
    }
    transactions = {
        t["erp_transaction_id"]: t
        for t in tables["intermediate.int_erp_transactions__enriched"]
        if not t["is_deleted"]
    }
    balance: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    activity: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for line in tables["staging.stg_erp__transaction_lines"]:
        t = transactions.get(line["erp_transaction_id"])
        if line["is_deleted"] or t is None or line["erp_account_id"] not in accounts:
            continue
        key = (accounts[line["erp_account_id"]], t["currency"])
        amount = line["debit_amount"] - line["credit_amount"]
        if t["transaction_date"] < END.date():
            balance[key] += amount
        if START.date() <= t["transaction_date"] < END.date():
            activity[key] += amount
    fees: dict[str, int] = defaultdict(int)
    closing: dict[str, int] = defaultdict(int)
    for bt in tables["staging.stg_billing__balance_transactions"]:
        if not bt["is_deleted"] and bt["created_at"] < END:
            closing[bt["currency"]] += bt["net_amount"]
            if bt["created_at"] >= START:
                fees[bt["currency"]] += bt["fee_amount"]
    rows = {(r["control"], r["currency"]): r for r in report.section("tie_outs").rows}
    checked = 0
    for cur in closing:
        clearing = rows[("clearing vs billing balance", cur)]
        assert clearing["erp_amount"] == balance[(coa["stripe_clearing"].acctnumber, cur)]
        assert clearing["billing_amount"] == minor_to_major(closing[cur], cur)
        fee = rows[("fees", cur)]
        assert fee["erp_amount"] == activity[(coa["fees_expense"].acctnumber, cur)]
        assert fee["billing_amount"] == minor_to_major(fees[cur], cur)
        tax = rows[("sales tax payable", cur)]
        assert tax["erp_amount"] == -activity[(coa["tax_payable"].acctnumber, cur)]
        for r in (clearing, fee, tax):
            assert r["difference"] == r["erp_amount"] - r["billing_amount"]
            assert r["immaterial"] == (abs(r["difference"]) <= r["materiality"])
            checked += 1
    assert checked >= 9


def test_header_names_the_contracts_entity_materiality_and_sign_off(report: Report) -> None:
    contract = load_contract()
    assert report.header["entity"] == contract.company
    assert report.header["period"] == "2026-10"
    assert report.header["run_id"] == "test-run"
    assert report.header["data_as_of"] == datetime(2026, 11, 1)
    assert "1,000.00 USD" in report.header["materiality"]
    assert contract.stakeholders["reporting"].name in report.header["preparer"]


def test_sections_without_rows_say_whether_the_table_is_absent_or_empty(report: Report) -> None:
    # a dbt build alone records no gate decision and no export batch
    for key in ("gate_decisions", "export_batches"):
        section = report.section(key)
        assert section.status in ("unavailable", "none") and not section.rows
        expected = {"unavailable": "not available in this warehouse", "none": "none recorded"}
        assert section.message.startswith(expected[section.status])


# ---------------------------------------------------------------- the HTML and XLSX vs the report
class _Tables(HTMLParser):
    """Cell texts of every `table[data-section]`, by section."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[str, list[list[str]]] = defaultdict(list)
        self.statuses: dict[str, str] = {}
        self._section: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section" and a.get("data-status"):
            self.statuses[a["id"] or ""] = a["data-status"] or ""
        if tag == "table" and a.get("data-section"):
            self._section = a["data-section"]
        elif tag == "tr" and self._section:
            self.cells[self._section].append([])
        elif tag == "td" and self._section:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._section:
            self.cells[self._section][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._section = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_html_tables_show_exactly_the_reports_numbers(
    report_and_files: tuple[Report, dict[str, Path]],
) -> None:
    report, paths = report_and_files
    html = paths["html"].read_text(encoding="utf-8")
    parser = _Tables()
    parser.feed(html)
    for section in report.sections:
        assert parser.statuses[section.key] == section.status
        if section.status != "ok":
            assert section.message in html
            continue
        shown = [row for row in parser.cells[section.key] if row]
        expected = [
            [format_cell(c, r.get(c.key), r) for c in section.columns] for r in section.rows
        ]
        assert shown == expected, section.key
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")


def _column_index(ref: str) -> int:
    """`C5` -> 2 (xlsxwriter leaves blank cells out, so positions come from references)."""
    index = 0
    for ch in re.match(r"[A-Z]+", ref).group(0):  # type: ignore[union-attr]
        index = index * 26 + ord(ch) - 64
    return index - 1


def _xlsx_sheets(path: Path) -> dict[str, tuple[list[list[str]], str]]:
    """Sheet name -> (rows of cell values as text, the sheet's XML)."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    rel = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
    with zipfile.ZipFile(path) as z:
        shared = [
            "".join(t.text or "" for t in si.iter(f"{{{ns['m']}}}t"))
            for si in ElementTree.fromstring(z.read("xl/sharedStrings.xml")).findall("m:si", ns)
        ]
        rels = ElementTree.fromstring(z.read("xl/_rels/workbook.xml.rels"))
        targets = {r.get("Id"): r.get("Target") for r in rels}
        out = {}
        for sheet in ElementTree.fromstring(z.read("xl/workbook.xml")).iter(f"{{{ns['m']}}}sheet"):
            xml = z.read("xl/" + targets[sheet.get(rel)]).decode()
            rows = []
            for row in ElementTree.fromstring(xml).iter(f"{{{ns['m']}}}row"):
                cells: dict[int, str] = {}
                for c in row.findall("m:c", ns):
                    v = c.find("m:v", ns)
                    text = "" if v is None else v.text or ""
                    cells[_column_index(c.get("r") or "")] = (
                        shared[int(text)] if c.get("t") == "s" else text
                    )
                rows.append([cells.get(i, "") for i in range(max(cells, default=-1) + 1)])
            out[sheet.get("name")] = (rows, xml)
    return out


def test_xlsx_has_one_sheet_per_section_with_the_reports_amounts(
    report_and_files: tuple[Report, dict[str, Path]],
) -> None:
    report, paths = report_and_files
    sheets = _xlsx_sheets(paths["xlsx"])
    assert list(sheets)[0] == "Header"
    assert len(sheets) == len(report.sections) + 1
    for section in report.sections:
        rows, xml = sheets[section.title[:31]]
        if section.status != "ok":
            assert rows[1] == [section.message]
            continue
        assert rows[0] == [c.label for c in section.columns]
        money_cells = 0
        assert 'state="frozen"' in xml and "<autoFilter" in xml
        assert len(rows) == len(section.rows) + 1
        for row, values in zip(section.rows, rows[1:], strict=True):
            by_col = dict(zip([c.key for c in section.columns], values, strict=False))
            for c in section.columns:
                if c.kind == "money" and row.get(c.key) is not None and row.get(c.currency_key):
                    # a cell holds a binary double written with 16 digits (97511.51 is stored
                    # as 97511.50999999999); at the currency's places it is the exact amount
                    cur = row[c.currency_key]
                    stored = quantize(Decimal(by_col[c.key]), cur)
                    assert stored == row[c.key], (section.key, c.key)
                    money_cells += 1
        if any(c.kind == "money" for c in section.columns):
            assert money_cells, section.key


def _pii(world: Path) -> set[str]:
    con = sqlite3.connect(world / "truth.sqlite")
    try:
        return {v for (v,) in con.execute("select value from pii") if v and len(v) >= 3}
    finally:
        con.close()


def test_no_pii_value_of_the_world_is_in_the_report(
    world_s: Path, report_and_files: tuple[Report, dict[str, Path]]
) -> None:
    report, paths = report_and_files
    texts = {v for s in report.sections for r in s.rows for v in r.values() if isinstance(v, str)}
    # the contract's named owners (employees the contract names for finance) are allowed
    contract = load_contract()
    people = [s.owner for s in contract.systems.values()] + list(contract.stakeholders.values())
    texts -= {f"{p.name} ({p.role})" for p in people}
    pii = _pii(world_s)
    assert len(pii) > 100 and len(texts) > 100
    # whole words: one token set for one-word values, a bounded search for the others;
    # digits-only values (postal codes) only as a whole cell
    joined = "\n".join(sorted(texts))
    tokens = set(re.findall(r"\w+", joined))

    def leaked(value: str) -> bool:
        if value.isdigit():
            return value in texts
        if re.fullmatch(r"\w+", value):
            return value in tokens
        return re.search(rf"(?<!\w){re.escape(value)}(?!\w)", joined) is not None

    leaks = [value for value in pii if leaked(value)]
    assert not leaks, leaks[:5]
