"""The export engine on PostgreSQL, against the ERP stand-in over a tiny world: the outbox and
ledger make two runs post each entry once, and a three-decimal currency is refused (never
rounded) before anything is queued or sent. The export model's table is written by hand here
(its dbt build on Postgres is covered by test_dbt_postgres)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from extractors.erp import ErpCredentials
from extractors.erp.records import RecordServiceClient
from q2c.exports import run_export
from q2c.gates import GateDecision, record_gate_decision
from q2c.warehouse import Warehouse
from sandbox.services import RunningSandbox, start_services
from tests.support.sandbox import build_tiny_erp_world

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

COLUMNS = (
    "external_id text, line_external_id text, source_ref text, trandate date, "
    "posting_period text, currency text, account text, memo text, entity text, entry_kind text, "
    "billing_id text, line_number integer, account_role text, currency_code text, "
    "currency_decimals integer, erp_subsidiary_id bigint, erp_currency_id bigint, "
    "erp_period_id bigint, erp_account_id bigint, erp_entity_id bigint, debit_minor bigint, "
    "credit_minor bigint"
)
DAY = date(2026, 11, 3)


@pytest.fixture(scope="module")
def erp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    root = tmp_path_factory.mktemp("erp-pg")
    world = build_tiny_erp_world(root / "world")
    with start_services(world, None, root / "state", services=("erp",)) as sandbox:
        yield sandbox


def lines(prefix: str, currency: str, decimals: int, n: int) -> list[tuple]:
    rows = []
    for i in range(n):
        ext, minor = f"q2c-invoice-in_{prefix}{i}", 1234 + i
        for number, (role, acct, acct_id, debit, credit) in enumerate(
            [("accounts_receivable", "1200", 2, minor, 0), ("revenue", "4000", 3, 0, minor)],
            start=1,
        ):
            rows.append(
                (
                    ext,
                    f"{ext}-{number}",
                    f"billing:invoice:in_{prefix}{i}",
                    DAY,
                    "Nov 2026",
                    currency.upper(),
                    acct,
                    "m",
                    None,
                    "invoice",
                    f"in_{prefix}{i}",
                    number,
                    role,
                    currency,
                    decimals,
                    1,
                    1,
                    11,
                    acct_id,
                    None,
                    debit,
                    credit,
                )
            )
    return rows


def load(url: str, rows: list[tuple]) -> None:
    with Warehouse.from_url(url) as wh:
        wh.ensure_schema("exports")
        wh.execute(f"create table if not exists exports.export_erp_journal_lines ({COLUMNS})")
        with wh.connection.cursor() as cur:
            cur.executemany(
                "insert into exports.export_erp_journal_lines values "
                f"({', '.join(['%s'] * 22)})",
                rows,
            )


def export(url: str, sandbox: RunningSandbox, out: Path):
    def gate(batch, run_id: str) -> GateDecision:
        return GateDecision("erp_export", run_id, True, (), None, datetime.now(UTC), len(batch))

    poster = RecordServiceClient(
        ErpCredentials(sandbox.env["Q2C_ERP_BASE_URL"], sandbox.env["Q2C_ERP_TOKEN"]),
        base_wait=0.01,
    )
    try:
        with Warehouse.from_url(url) as wh:
            return run_export(
                wh,
                poster,
                partition=DAY,
                gate=gate,
                record_gate=lambda d: record_gate_decision(wh, d),
                run_id="pg-test",
                out_root=out,
                chunk_rows=7,  # the server-side cursor fetched in several chunks
            )
    finally:
        poster.close()


def created(sandbox: RunningSandbox, prefix: str) -> list[str]:
    items = httpx.get(sandbox.env["Q2C_ERP_BASE_URL"] + "/__sandbox/record-journal").json()
    return [
        r["external_id"]
        for r in items["items"]
        if r["operation"] == "created" and r["external_id"].startswith(f"q2c-invoice-in_{prefix}")
    ]


def test_two_runs_on_postgres_post_each_entry_once(
    erp: RunningSandbox, postgres_db: str, tmp_path: Path
) -> None:
    load(postgres_db, lines("pg", "usd", 2, 7))
    first = export(postgres_db, erp, tmp_path)
    files = [Path(p).read_bytes() for p in first.files]
    second = export(postgres_db, erp, tmp_path)
    assert (first.status, first.posted, first.entries) == ("sent", 7, 7)
    assert second.status == "delivered_before" and second.posted == 7
    assert [Path(p).read_bytes() for p in second.files] == files
    assert sorted(created(erp, "pg")) == sorted(f"q2c-invoice-in_pg{i}" for i in range(7))
    with Warehouse.from_url(postgres_db) as wh:
        assert wh.fetchall("select status, count(*) from ops.export_ledger group by 1") == [
            ("posted", 7)
        ]


def test_a_three_decimal_currency_is_refused_not_rounded(
    erp: RunningSandbox, postgres_db: str, tmp_path: Path
) -> None:
    load(postgres_db, lines("kwd", "kwd", 3, 2))
    outcome = export(postgres_db, erp, tmp_path)
    assert outcome.status == "refused"
    assert any("KWD has 3 decimal places" in r for r in outcome.reasons)
    csv_text = Path(outcome.files[0]).read_text()
    assert ",1.234," in csv_text  # the file keeps the exact amount
    assert created(erp, "kwd") == []
    with Warehouse.from_url(postgres_db) as wh:
        assert wh.fetchone("select count(*) from ops.export_outbox") == (0,)
        assert wh.fetchone("select count(*) from ops.export_ledger") == (0,)
        assert wh.fetchone(
            "select status from ops.export_batches where batch_id = ?", [outcome.batch_id]
        ) == ("refused",)
        (passed,) = wh.fetchone("select passed from ops.gate_decisions")
    assert passed is False
