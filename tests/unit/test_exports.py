"""Pure parts of the ERP export: exact amounts, entry grouping, keys, the wire's JSON, the
precision rule, control totals, and the ledger DDL the dbt hook repeats."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from extractors.erp.records import entry_body, to_json
from q2c.exports.engine import entry_chunks, precision_reasons
from q2c.exports.entries import entries_from_rows, minor_to_major
from q2c.exports.files import build_manifest, control_totals, render_csv
from q2c.exports.ledger import LEDGER_DDL

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def row(ext: str, n: int, currency: str, decimals: int, debit: int, credit: int, **kw) -> dict:
    base = {
        "external_id": ext,
        "line_external_id": f"{ext}-{n}",
        "line_number": n,
        "trandate": "2026-11-03",
        "posting_period": "Nov 2026",
        "currency": currency.upper(),
        "currency_decimals": decimals,
        "account": "1200" if debit else "4000",
        "account_role": "accounts_receivable" if debit else "revenue",
        "memo": "m",
        "entity": None,
        "entry_kind": "invoice",
        "source_ref": "billing:invoice:in_1",
        "erp_subsidiary_id": 1,
        "erp_currency_id": 1,
        "erp_period_id": 11,
        "erp_account_id": 2 if debit else 3,
        "erp_entity_id": None,
        "debit_minor": debit,
        "credit_minor": credit,
    }
    return base | kw


def entry_rows(ext: str, currency: str, decimals: int, minor: int) -> list[dict]:
    return [row(ext, 2, currency, decimals, 0, minor), row(ext, 1, currency, decimals, minor, 0)]


@pytest.mark.parametrize(
    ("minor", "decimals", "text"),
    [(1500, 0, "1500"), (1234, 2, "12.34"), (1234, 3, "1.234"), (5, 2, "0.05"), (0, 2, "0.00")],
)
def test_minor_units_become_exact_major_units(minor: int, decimals: int, text: str) -> None:
    assert str(minor_to_major(minor, decimals)) == text


def test_entries_group_lines_in_order_and_keep_kwd_exact() -> None:
    (entry,) = entries_from_rows(entry_rows("q2c-invoice-in_1", "kwd", 3, 1234))
    assert [ln.line_external_id for ln in entry.lines] == [
        "q2c-invoice-in_1-1",
        "q2c-invoice-in_1-2",
    ]
    assert entry.lines[0].debit == Decimal("1.234") and entry.lines[1].credit == Decimal("1.234")


def test_the_key_follows_the_content_and_survives_a_round_trip() -> None:
    (a,) = entries_from_rows(entry_rows("q2c-invoice-in_1", "usd", 2, 1000))
    (b,) = entries_from_rows(entry_rows("q2c-invoice-in_1", "usd", 2, 1001))
    assert a.idempotency_key != b.idempotency_key and a.content_hash != b.content_hash
    again = type(a).from_json(json.loads(json.dumps(a.as_json())))
    assert again == a and again.idempotency_key == a.idempotency_key


def test_the_wire_body_has_netsuite_fields_and_exact_numbers() -> None:
    (entry,) = entries_from_rows(entry_rows("q2c-invoice-in_1", "usd", 2, 1050))
    text = to_json(entry_body(entry))
    assert '"debit":10.50' in text and '"credit":10.50' in text
    body = json.loads(text)
    assert body["externalId"] == "q2c-invoice-in_1" and body["tranDate"] == "2026-11-03"
    assert body["postingPeriod"] == {"id": "11"} and body["subsidiary"] == {"id": "1"}
    assert [item["account"] for item in body["line"]["items"]] == [{"id": "2"}, {"id": "3"}]


def test_more_decimals_than_the_erp_takes_is_a_reason_never_a_rounding() -> None:
    entries = entries_from_rows(
        entry_rows("q2c-invoice-in_1", "kwd", 3, 1234) + entry_rows("q2c-invoice-in_2", "usd", 2, 5)
    )
    assert precision_reasons(entries, 2) == [
        "currency KWD has 3 decimal places and the ERP takes 2: refused rather than rounded"
    ]
    assert precision_reasons(entries, 3) == []


def test_manifest_totals_and_net_per_account() -> None:
    entries = entries_from_rows(
        entry_rows("q2c-invoice-in_1", "usd", 2, 1000) + entry_rows("q2c-invoice-in_2", "eur", 2, 5)
    )
    totals = control_totals(entries)
    assert totals["totals_by_currency"] == {
        "EUR": {"credit": "0.05", "debit": "0.05"},
        "USD": {"credit": "10.00", "debit": "10.00"},
    }
    assert totals["net_by_account"]["1200"] == {"EUR": "0.05", "USD": "10.00"}
    data = render_csv(entries)
    manifest = json.loads(
        build_manifest(
            batch_id="b",
            partition="2026-11-03",
            entries=entries,
            csv_bytes=data,
            run_id="r",
            gate=None,
        )
    )
    assert manifest["external_id_range"] == {
        "first": "q2c-invoice-in_1",
        "last": "q2c-invoice-in_2",
    }
    assert (manifest["entries"], manifest["lines"]) == (2, 4)


def test_the_dbt_hook_creates_the_same_ledger_as_the_export() -> None:
    macro = (ROOT / "dbt_project/macros/landing_tables.sql").read_text()
    start = macro.index("'create table if not exists ops.export_ledger (")
    end = macro.index(") %}", start)
    hook = "".join(re.findall(r"'([^']*)'", macro[start:end]))
    assert hook == LEDGER_DDL


def test_the_daily_schedule_asks_for_yesterdays_partition() -> None:
    from datetime import UTC, datetime

    import dagster as dg

    from orchestration.assets.erp_export import (
        ErpExportResource,
        erp_export_assets,
        erp_export_daily,
        erp_export_jobs,
        erp_export_schedules,
    )
    from orchestration.resources import WarehouseResource

    defs = dg.Definitions(
        assets=erp_export_assets,
        jobs=erp_export_jobs,
        schedules=erp_export_schedules,
        resources={
            "erp_export": ErpExportResource(base_url="http://erp.invalid", token="t"),
            "warehouse": WarehouseResource(url="duckdb:///unused.duckdb"),
        },
    )

    with (
        dg.instance_for_test() as instance,
        dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime(2026, 11, 5, 6, tzinfo=UTC),
            repository_def=defs.get_repository_def(),
        ) as context,
    ):
        (request,) = erp_export_daily.evaluate_tick(context).run_requests or []
    assert request.partition_key == "2026-11-04" and request.run_key == "2026-11-04"


def test_streamed_chunks_regroup_entries_cut_at_a_chunk_end() -> None:
    rows = [r for i in range(1, 6) for r in entry_rows(f"q2c-invoice-in_{i}", "usd", 2, i)]
    rows.sort(key=lambda r: (r["external_id"], r["line_number"]))
    for size in (1, 2, 3, 4, 7, 100):
        chunks = list(entry_chunks(rows[i : i + size] for i in range(0, len(rows), size)))
        ids = [{r["external_id"] for r in chunk} for chunk in chunks]
        assert sum(len(c) for c in chunks) == len(rows)
        assert all(not a & b for a, b in zip(ids, ids[1:], strict=False)), size
        streamed = [e for chunk in chunks for e in entries_from_rows(chunk)]
        assert streamed == entries_from_rows(rows), size
