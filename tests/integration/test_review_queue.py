"""The manual review queue on a copy of the S world's DuckDB build: each red flag is injected
(or, for breaks above materiality, found as the world has them), opens one review item with
its packet, holds its subject out of its flow, and a resolution records who, when and what."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestration.cli import app
from q2c.policy import load_contract
from q2c.reports import Period, build_report
from q2c.reports.money import minor_to_major
from q2c.review import detect_red_flags, held_subjects, list_items, open_items, resolve
from q2c.warehouse import Warehouse
from tests.support.reports import s_duckdb

pytestmark = pytest.mark.integration


@pytest.fixture
def wh(
    world_s: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    db = tmp_path / "warehouse.duckdb"
    shutil.copy(s_duckdb(world_s, tmp_path_factory), db)
    with Warehouse.from_url(f"duckdb:///{db}") as warehouse:
        yield warehouse


def _inject_credit_note_above_its_invoice(wh: Warehouse) -> str:
    invoice_id, total = wh.fetchone(
        "select invoices.invoice_id, invoices.total_amount"
        " from marts.fct_invoices as invoices inner join staging.stg_billing__credit_notes"
        " as notes on notes.invoice_id = invoices.invoice_id limit 1"
    )
    wh.execute(
        "insert into staging.stg_billing__credit_notes select * replace ("
        "'cn_injected' as credit_note_id, ? as total_amount, 'issued' as credit_note_status)"
        " from staging.stg_billing__credit_notes where invoice_id = ? limit 1",
        [total + 100, invoice_id],
    )
    return invoice_id


def _inject_a_persons_mrr_edit(wh: Warehouse) -> str:
    (account_id,) = wh.fetchone(
        "select account_id from snapshots.snap_crm_account_states where dbt_valid_to is null"
        " order by account_id limit 1"
    )
    wh.execute(
        "insert into snapshots.snap_crm_account_states select * replace ("
        "coalesce(crm_mrr, 0) + 4200 as crm_mrr, '005PERSON000001AAA' as last_modified_by_id,"
        " dbt_valid_from + interval 1 day as dbt_valid_from,"
        " 'injected' as dbt_scd_id) from snapshots.snap_crm_account_states"
        " where account_id = ? and dbt_valid_to is null",
        [account_id],
    )
    return account_id


def test_each_red_flag_opens_one_item_and_holds_its_subject_until_resolved(
    wh: Warehouse,
) -> None:
    contract = load_contract()
    invoice_id = _inject_credit_note_above_its_invoice(wh)
    account_id = _inject_a_persons_mrr_edit(wh)
    flags = detect_red_flags(wh, contract)

    materiality = contract.reporting.materiality_minor
    above = {
        r[0]
        for r in wh.fetchall(
            "select break_id, difference_amount, currency from reconciliation.rec_breaks"
            " where difference_amount is not null and currency is not null"
        )
        if abs(r[1]) > minor_to_major(materiality[r[2]], r[2])
    }
    by_flag = {f.flag: [x for x in flags if x.flag == f.flag] for f in flags}
    assert {f.key for f in by_flag["break_above_materiality"]} == above and len(above) > 10
    [credit] = by_flag["credit_notes_exceed_invoice"]
    assert (credit.subject_id, credit.flow) == (invoice_id, "erp_export")
    assert credit.packet["credited_minor"] > credit.packet["invoice_total_minor"]
    [edit] = by_flag["crm_owned_field_changed_without_source_event"]
    assert (edit.subject_id, edit.flow) == (account_id, "crm_account_sync")
    assert edit.packet["last_modified_by_id"] == "005PERSON000001AAA"

    assert open_items(wh, flags, "run-1") == len(flags)
    assert open_items(wh, detect_red_flags(wh, contract), "run-2") == 0  # reruns add nothing
    assert invoice_id in held_subjects(wh, "erp_export")
    assert account_id in held_subjects(wh, "crm_account_sync")

    item = resolve(wh, credit.review_id, decision="reject", by="Olu Adebayo", note="void it")
    assert (item.status, item.decision, item.resolved_by) == ("resolved", "reject", "Olu Adebayo")
    assert item.resolved_at is not None and item.note == "void it"
    assert invoice_id not in held_subjects(wh, "erp_export")
    with pytest.raises(ValueError, match="already resolved"):
        resolve(wh, credit.review_id, decision="approve", by="Olu Adebayo")
    assert open_items(wh, detect_red_flags(wh, contract), "run-3") == 0  # stays resolved

    open_now = {i.review_id for i in list_items(wh)}
    section = build_report(wh, contract, Period(2026, 10), run_id="t").section("review_queue")
    assert {r["review_id"] for r in section.rows} == open_now
    assert credit.review_id not in open_now


def test_q2c_review_lists_shows_and_resolves(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_items(wh, detect_red_flags(wh, load_contract()), "run-1")
    first = list_items(wh)[0]
    url = wh.url
    wh.close()  # the command opens the DuckDB file itself
    monkeypatch.setenv("Q2C_WAREHOUSE_URL", url)
    runner = CliRunner()
    listed = json.loads(runner.invoke(app, ["review", "list", "--json"]).output)
    assert first.review_id in {i["review_id"] for i in listed}
    shown = json.loads(runner.invoke(app, ["review", "show", first.review_id, "--json"]).output)
    assert shown["packet"]["break_id"] == first.packet["break_id"]
    args = ["review", "resolve", first.review_id, "--decision", "approve", "--by", "Sofia"]
    assert runner.invoke(app, args).exit_code == 0
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "already resolved" in again.output
    assert runner.invoke(app, ["review", "show", "nope"]).exit_code == 1
