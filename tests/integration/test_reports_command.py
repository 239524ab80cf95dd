"""`q2c report`, the `reports/period_report` Dagster asset, and the sections other parts of
q2c feed: on the S world's DuckDB build (shared), gate decisions recorded through q2c.gates and
an export batch recorded through q2c.exports appear in the report with the manifest's control
totals and the ERP's rejection; before they exist the sections say so."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from orchestration.assets.reports import period_report
from orchestration.cli import app
from orchestration.resources import WarehouseResource
from q2c.exports.entries import JournalEntry, JournalLine, PostResult
from q2c.exports.files import build_manifest
from q2c.exports.ledger import ensure_tables, record_batch, record_results
from q2c.gates import GateDecision, record_gate_decision
from q2c.policy import load_contract
from q2c.reports import Period, build_report
from q2c.warehouse import Warehouse
from tests.support.reports import s_duckdb

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def s_db(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return s_duckdb(world_s, tmp_path_factory)


def test_q2c_report_writes_the_files_and_prints_json(
    s_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("Q2C_WAREHOUSE_URL", f"duckdb:///{s_db}")
    result = CliRunner().invoke(app, ["report", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["period"] == "2026-10"  # the last whole month before the data's as-of time
    for kind in ("html", "xlsx", "json"):
        assert Path(out["paths"][kind]).stat().st_size > 10_000
    assert out["sections"]["open_items"]["status"] == "ok"
    assert out["sections"]["open_items"]["rows"] > 200


def test_q2c_report_refuses_a_malformed_period(
    s_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("Q2C_WAREHOUSE_URL", f"duckdb:///{s_db}")
    result = CliRunner().invoke(app, ["report", "--period", "2026-13", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "not a period" in result.output
    assert not list(tmp_path.iterdir())


def test_period_report_asset_writes_the_report_under_q2c_home(
    s_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("Q2C_HOME", str(tmp_path))
    result = dg.materialize(
        [period_report],
        resources={"warehouse": WarehouseResource(url=f"duckdb:///{s_db}")},
        run_config={"ops": {"reports__period_report": {"config": {"period": "2026-09"}}}},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    meta = result.asset_materializations_for_node("reports__period_report")[0].metadata
    assert meta["period"].value == "2026-09"
    assert Path(meta["html"].value) == tmp_path / "reports" / "report-2026-09.html"
    assert (tmp_path / "reports" / "report-2026-09.xlsx").exists()
    # counts and statuses only: no row of the report in Dagster's metadata
    assert set(meta["sections"].value["open_items"]) == {"status", "rows"}


def _entry(external_id: str, amount_minor: int) -> JournalEntry:
    amount = Decimal(amount_minor).scaleb(-2)

    def line(n: int, account: str, role: str, debit: int, credit: int) -> JournalLine:
        return JournalLine(
            line_external_id=f"{external_id}:{n}",
            account=account,
            erp_account_id=None,
            debit=Decimal(debit).scaleb(-2),
            credit=Decimal(credit).scaleb(-2),
            memo=None,
            entity=None,
            erp_entity_id=None,
            source_ref=f"billing:invoice:{external_id.rsplit(':', 1)[1]}",
            account_role=role,
            debit_minor=debit,
            credit_minor=credit,
        )

    assert amount > 0
    return JournalEntry(
        external_id=external_id,
        entry_kind="invoice",
        trandate=date(2026, 10, 15),
        posting_period=None,
        currency="usd",
        currency_decimals=2,
        erp_subsidiary_id=None,
        erp_currency_id=None,
        erp_period_id=None,
        memo=None,
        lines=(
            line(1, "1200", "accounts_receivable", amount_minor, 0),
            line(2, "4000", "revenue", 0, amount_minor),
        ),
    )


def test_gate_decisions_and_export_batches_appear_once_recorded(s_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "warehouse.duckdb"
    shutil.copy(s_db, db)
    contract, period = load_contract(), Period(2026, 10)
    with Warehouse.from_url(f"duckdb:///{db}") as wh:
        ensure_tables(wh)  # the export step's tables, empty: "none recorded"
        empty = build_report(wh, contract, period, run_id="t").section("export_batches")
        assert (empty.status, empty.message.split(":")[0]) == ("none", "none recorded")

        entries = [_entry("q2c:invoice:in_a", 12_345), _entry("q2c:invoice:in_b", 500)]
        manifest = build_manifest(
            batch_id="b-1",
            partition="2026-10-15",
            entries=entries,
            csv_bytes=b"csv",
            run_id="run-1",
            gate=None,
        )
        record_batch(wh, "b-1", "2026-10-15", "sent", entries, [], manifest, "run-1")
        record_results(
            wh,
            {e.idempotency_key: ("b-1", e.content_hash) for e in entries},
            [
                PostResult(entries[0].external_id, entries[0].idempotency_key, "posted", "901"),
                PostResult(
                    entries[1].external_id,
                    entries[1].idempotency_key,
                    "rejected",
                    error_code="INVALID_FLD_VALUE",
                    error_detail="period closed",
                ),
            ],
            "run-1",
        )
        record_gate_decision(
            wh,
            GateDecision(
                "erp_export",
                "run-1",
                False,
                ("rec_verdict controlled_writes unexplained_minor|usd: 18493216 > 500000",),
                "val-1",
                datetime(2026, 11, 2, 6, 0, tzinfo=UTC),
                2,
            ),
        )
        report = build_report(wh, contract, period, run_id="t")

    batches = report.section("export_batches")
    assert batches.status == "ok"
    [row] = batches.rows
    assert (row["batch_id"], row["currency"], row["entries"]) == ("b-1", "usd", 2)
    assert row["debit"] == row["credit"] == Decimal("128.45")
    assert (row["posted"], row["rejected"], row["rejection_codes"]) == (1, 1, "INVALID_FLD_VALUE")

    decisions = report.section("gate_decisions")
    assert decisions.status == "ok"
    [decision] = decisions.rows
    assert (decision["flow"], decision["passed"], decision["validation_id"]) == (
        "erp_export",
        False,
        "val-1",
    )
    # q2c's own reasons are shown as written (the text scrub would hide 18493216 as an
    # account number)
    assert "unexplained_minor|usd: 18493216 > 500000" in decision["reasons"]


def test_evidence_pack_lists_every_file_with_its_sha256(
    s_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gate run (Great Expectations on the S world's real ERP batch, results under
    $Q2C_HOME/gates), an export day's files and the dbt build's run results go into the pack;
    every file of its manifest is in the zip with that hash, and what is absent is named."""
    import hashlib
    import zipfile

    import pandas as pd

    from q2c.exports.files import write_files
    from q2c.gates import evaluate_gate

    db, home = tmp_path / "warehouse.duckdb", tmp_path / "home"
    shutil.copy(s_db, db)
    contract = load_contract()
    with Warehouse.from_url(f"duckdb:///{db}") as wh:
        batch = pd.DataFrame(
            wh.fetchall("select * from exports.export_erp_journal_lines"),
            columns=[r[0] for r in wh.fetchall("describe exports.export_erp_journal_lines")],
        )
        decision = evaluate_gate(
            "erp_export", batch, contract=contract, run_id="run-ev", warehouse=wh, home=home
        )
        record_gate_decision(wh, decision)
    entries = [_entry("q2c:invoice:in_a", 12_345)]
    manifest = build_manifest(
        batch_id="b-1",
        partition="2026-10-15",
        entries=entries,
        csv_bytes=b"csv",
        run_id="run-ev",
        gate=None,
    )
    write_files(home / "exports" / "2026-10-15", b"csv", manifest)
    write_files(home / "exports" / "2026-11-02", b"csv", manifest)  # another period's day

    monkeypatch.setenv("Q2C_WAREHOUSE_URL", f"duckdb:///{db}")
    monkeypatch.setenv("Q2C_HOME", str(home))
    dbt_target = s_db.parent / "dbt" / "target"
    result = CliRunner().invoke(
        app,
        ["evidence", "--period", "2026-10", "--out", str(tmp_path / "out")]
        + ["--dbt-target", str(dbt_target), "--json"],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    with zipfile.ZipFile(out["path"]) as z:
        names = set(z.namelist())
        listed = json.loads(z.read("MANIFEST.json"))
        for f in listed["files"]:
            data = z.read(f["path"])
            assert hashlib.sha256(data).hexdigest() == f["sha256"], f["path"]
            assert len(data) == f["bytes"]
        sums = z.read("SHA256SUMS").decode().splitlines()
    paths = {f["path"] for f in listed["files"]}
    assert names == paths | {"MANIFEST.json", "SHA256SUMS"}
    assert len(sums) == len(paths)
    assert {
        "ownership/ownership_sheet.md",
        "report/report-2026-10.html",
        "report/report-2026-10.xlsx",
        "exports/2026-10-15/manifest.json",
        "dbt/run_results.json",
        "design/retry_and_replay.md",
    } <= paths
    assert not any(p.startswith("exports/2026-11-02") for p in paths)
    assert any(p.startswith("gates/run-ev/") for p in paths), sorted(paths)
    # no write happened on this copy: each sample trace is named as missing, with the reason
    assert set(listed["missing"]) == {"writes/audit_trail.csv"} | {
        f"traces/{name}.json"
        for name in ("blocked_payout", "released_payout", "exported_invoice", "written_account")
    }
