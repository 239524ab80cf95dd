"""`q2c policy check|sheet|compile|pause|resume` through the real typer app."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestration.cli import app
from q2c.policy.loader import REPO_CONTRACT, default_contract

pytestmark = pytest.mark.unit

runner = CliRunner()
SHIPPED = REPO_CONTRACT.read_text(encoding="utf-8")


def test_check_passes_on_the_shipped_contract() -> None:
    result = runner.invoke(app, ["policy", "check"])
    assert result.exit_code == 0, result.output
    assert "GO" in result.output


def test_check_json_counts_every_mapped_field() -> None:
    result = runner.invoke(app, ["policy", "check", "--json"])
    report = json.loads(result.output)
    assert result.exit_code == 0
    assert report["ok"] is True and report["issues"] == []
    assert report["write_set"] == len(default_contract().write_set()) >= 6
    assert report["fields"] == SHIPPED.count("{sources:") + SHIPPED.count("        sources:")


def test_check_lists_fields_without_owner_or_rule_and_exits_1(tmp_path: Path) -> None:
    # the product entity's defaults give its fields owner and rule; without them each is missing
    old = (
        "    defaults: {owner: billing, resolution: {winner: owner_wins, keep_losing_value: "
        "false, reason: Read only.}}\n    fields:\n      id: {sources: {billing: product.id}}"
    )
    assert old in SHIPPED
    text = SHIPPED.replace(old, "    fields:\n      id: {sources: {billing: product.id}}")
    path = tmp_path / "ownership.yml"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["policy", "check", "--file", str(path), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    problems = {i["problem"] for i in report["issues"]}
    assert problems == {
        f"field 'product.{f}' has no {what}."
        for f in ("id", "name", "active")
        for what in ("named owner", "resolution rule")
    }
    lines = {i["line"] for i in report["issues"]}
    assert text.splitlines()[min(lines) - 1].strip().startswith("id: {sources: {billing: product")
    human = runner.invoke(app, ["policy", "check", "--file", str(path)])
    assert human.exit_code == 1
    assert "NO-GO" in human.output and "product.active" in human.output


def test_check_reports_invalid_contract_with_line(tmp_path: Path) -> None:
    path = tmp_path / "ownership.yml"
    path.write_text(
        SHIPPED.replace("phase: controlled_writes, writes_to: crm", "phase: beta, writes_to: crm"),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["policy", "check", "--file", str(path), "--json"])
    assert result.exit_code == 1
    (issue,) = json.loads(result.output)["issues"]
    assert issue["problem"] == "unknown phase 'beta' for flow 'crm_account_enrichment'."
    assert "phase: beta" in path.read_text().splitlines()[issue["line"] - 1]


class _Tables(HTMLParser):
    """Collect the text of every table cell by table id, and the objects list."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.objects: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._in_objects = False
        self._li: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self._table = a.get("id")
            self.tables[self._table or ""] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "ul" and a.get("id") == "objects-list":
            self._in_objects = True
        elif tag == "li" and self._in_objects:
            self._li = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "li" and self._li is not None:
            self.objects.append("".join(self._li).strip())
            self._li = None
        elif tag == "ul":
            self._in_objects = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._li is not None:
            self._li.append(data)


def test_sheet_writes_markdown_and_html_with_the_contract_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("Q2C_HOME", str(tmp_path / "home"))
    paused = runner.invoke(app, ["policy", "pause", "erp_journal_export", "-r", "ERP import down"])
    assert paused.exit_code == 0, paused.output
    result = runner.invoke(app, ["policy", "sheet", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    md = (tmp_path / "out" / "ownership_sheet.md").read_text()
    assert "| account | mrr | billing |" in md

    parser = _Tables()
    parser.feed((tmp_path / "out" / "ownership_sheet.html").read_text())
    # one sentence per object, naming its System of Record
    account = next(o for o in parser.objects if o.startswith("account "))
    assert "System of Record: crm" in account and account.count(". ") <= 1
    assert len(parser.objects) == SHIPPED.count("    system_of_record: ")
    # the field table: header + one row per mapped field, write set marked
    fields = parser.tables["fields-table"]
    header, rows = fields[0], fields[1:]
    by_field = {(r[0], r[1]): dict(zip(header, r, strict=True)) for r in rows}
    mrr = by_field[("account", "mrr")]
    assert (mrr["owner"], mrr["winner"], mrr["written to"]) == (
        "billing",
        "owner_wins",
        "crm: Account.MRR__c",
    )
    flag = by_field[("case", "billing_priority_flag")]
    assert (flag["winner"], flag["direction"], flag["mode"]) == (
        "human_edit_wins",
        "bidirectional",
        "real_time",
    )
    assert sum(1 for r in by_field.values() if r["written to"]) == len(
        default_contract().write_set()
    )
    # sync modes and lag expectations
    sync = {r[0]: r for r in parser.tables["sync-table"][1:]}
    assert sync["payout"][5:] == ["1d", "2d"]
    # sensitivity: bank accounts are masked in exports and redacted in logs
    sens_header, *sens = parser.tables["sensitivity-table"]
    bank = dict(zip(sens_header, next(r for r in sens if r[0] == "bank_account"), strict=True))
    assert (bank["logs"], bank["exports"]) == ("redact", "mask")
    # gates and phases, with the kill switch shown
    gates = {r[0]: r for r in parser.tables["gates-table"][1:]}
    assert "reverse_charge_invoicing" in gates["eu_vat_must_be_valid"][4]
    assert "payout_release" in gates["payout_requires_verified_kyc"][4]
    phases = {r[0]: r for r in parser.tables["phases-table"][1:]}
    assert phases["crm_account_enrichment"][2] == "controlled_writes"
    assert phases["erp_journal_export"][5] == "PAUSED: ERP import down"
    assert phases["ingest_billing"][5] == "n/a"
    accounts = {r[0]: r for r in parser.tables["accounts-table"][1:]}
    assert accounts["bank_eur"][1:] == ["1010", "Operating Bank EUR", "Bank", "eur"]
    rules = dict(parser.tables["rules-table"][1:])
    assert rules["dunning_statuses"] == "past_due, unpaid"
    assert rules["posting_grace_days"] == "0"


def test_pause_and_resume_a_write_flow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Q2C_HOME", str(tmp_path))
    assert runner.invoke(app, ["policy", "pause", "crm_account_enrichment"]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["policy", "switches", "--json"]).output)
    write_flows = [name for name, f in default_contract().rollout.items() if f.kind == "write"]
    assert {r["flow"]: r["paused"] for r in listed} == {
        name: name == "crm_account_enrichment" for name in write_flows
    }
    assert {"support_case_priority", "erp_journal_export", "automation_support_enrichment"} <= set(
        write_flows
    )
    result = runner.invoke(app, ["policy", "resume", "crm_account_enrichment"])
    assert result.exit_code == 0 and "resumed" in result.output
    refused = runner.invoke(app, ["policy", "pause", "ingest_billing"])
    assert refused.exit_code == 2
    assert "ingestion keeps running" in refused.output


def test_check_on_a_missing_file_says_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["policy", "check", "--file", str(tmp_path / "nope.yml"), "--json"])
    assert result.exit_code == 1
    (issue,) = json.loads(result.output)["issues"]
    assert issue["problem"] == "the contract file does not exist."


def test_compile_check_detects_stale_seeds(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    assert runner.invoke(app, ["policy", "compile", "--seeds", str(seeds)]).exit_code == 0
    ok = runner.invoke(app, ["policy", "compile", "--seeds", str(seeds), "--check"])
    assert ok.exit_code == 0, ok.output
    (seeds / "policy__write_set.csv").write_text("system\n")
    stale = runner.invoke(app, ["policy", "compile", "--seeds", str(seeds), "--check"])
    assert stale.exit_code == 1
    assert "policy__write_set" in stale.output


def test_schema_describes_the_sections() -> None:
    result = runner.invoke(app, ["policy", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert {"systems", "entities", "writeback", "sensitivity", "compliance", "rollout"} <= set(
        schema["properties"]
    )


def test_dbt_vars_prints_json_for_dbt() -> None:
    result = runner.invoke(app, ["policy", "dbt-vars"])
    assert result.exit_code == 0
    assert json.loads(result.output)["q2c_dunning_statuses"] == ["past_due", "unpaid"]
