"""Entries per second through the ERP upsert path: the REST record adapter against the stand-in.

Builds a small ERP world (tests/support/sandbox.py), starts the ERP stand-in on a loopback port
and upserts N two-line journal entries with `extractors.erp.records.RecordServiceClient`:
one `PUT .../journalEntry/eid:<id>` per entry (`--mode sync`) or async batch upserts of 100
polled to completion (`--mode async`), `--in-flight` requests at once (the stand-in enforces
NetSuite's default limit of 5). Prints entries/s, the ERP's write-journal count (every entry
created once) and the machine's load average (the machine is shared: figures vary with it).
`--engine` runs the whole exactly-once path instead (`q2c.exports.run_export` on a DuckDB
warehouse holding the entries as export lines: cut, files, outbox, upserts, ledger), then the
same day again (a delivered day: files rewritten, nothing sent).

    .venv/bin/python -m bench.erp_export --entries 10000 --mode sync [--engine]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path


def entries(n: int) -> list:
    from q2c.exports.entries import JournalEntry, JournalLine

    out = []
    for i in range(n):
        cents = 1_000 + (i * 7919) % 900_000
        amount, zero = Decimal(cents).scaleb(-2), Decimal("0.00")
        ext = f"q2c-invoice-in_bench{i:07d}"
        common = {"memo": None, "entity": None, "erp_entity_id": 1 + i % 30}
        common["source_ref"] = f"billing:invoice:in_bench{i:07d}"
        lines = (
            JournalLine(
                f"{ext}-1",
                "1200",
                2,
                amount,
                zero,
                account_role="accounts_receivable",
                debit_minor=cents,
                credit_minor=0,
                **common,
            ),
            JournalLine(
                f"{ext}-2",
                "4000",
                3,
                zero,
                amount,
                account_role="revenue",
                debit_minor=0,
                credit_minor=cents,
                **common,
            ),
        )
        out.append(
            JournalEntry(
                ext, "invoice", date(2026, 11, 3), "Nov 2026", "USD", 2, 1, 1, 11, None, lines
            )
        )
    return out


def through_engine(client: object, todo: list, tmp: Path) -> tuple[list[str], float]:
    """`run_export` over a DuckDB holding `todo` as export lines; (answers, rerun seconds)."""
    from datetime import UTC, datetime

    from q2c.exports import run_export
    from q2c.gates import GateDecision
    from q2c.warehouse import Warehouse

    def gate(batch: object, run_id: str) -> GateDecision:
        return GateDecision("erp_export", run_id, True, (), None, datetime.now(UTC), None)

    with Warehouse.from_url(f"duckdb:///{tmp / 'bench.duckdb'}") as wh:
        wh.ensure_schema("exports")
        rows = [
            {
                "external_id": e.external_id,
                "line_external_id": ln.line_external_id,
                "line_number": n,
                "trandate": e.trandate,
                "posting_period": e.posting_period,
                "currency": e.currency,
                "currency_decimals": e.currency_decimals,
                "account": ln.account,
                "account_role": ln.account_role,
                "memo": ln.memo,
                "entity": ln.entity,
                "entry_kind": e.entry_kind,
                "source_ref": ln.source_ref,
                "erp_subsidiary_id": e.erp_subsidiary_id,
                "erp_currency_id": e.erp_currency_id,
                "erp_period_id": e.erp_period_id,
                "erp_account_id": ln.erp_account_id,
                "erp_entity_id": ln.erp_entity_id,
                "debit_minor": ln.debit_minor,
                "credit_minor": ln.credit_minor,
            }
            for e in todo
            for n, ln in enumerate(e.lines, start=1)
        ]
        import pandas as pd

        frame = pd.DataFrame(rows)  # noqa: F841 - read by DuckDB's replacement scan
        wh.connection.execute(
            "create table exports.export_erp_journal_lines as select * from frame"
        )
        common = {"partition": date(2026, 11, 3), "gate": gate, "record_gate": lambda d: None}
        common |= {"run_id": "bench", "out_root": tmp / "exports"}
        outcome = run_export(wh, client, **common)
        started = time.perf_counter()
        again = run_export(wh, client, **common)
        rerun = time.perf_counter() - started
        assert again.status == "delivered_before", again.status
        answers = wh.fetchall("select external_id, status from ops.export_ledger")
    assert outcome.posted == len(answers) == len(todo), (outcome.posted, len(answers))
    return [status for _, status in answers], rerun


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--mode", choices=("sync", "async"), default="sync")
    parser.add_argument("--in-flight", type=int, default=5)
    parser.add_argument("--engine", action="store_true", help="Through run_export (ledger).")
    args = parser.parse_args()

    import httpx

    from extractors.erp import ErpCredentials
    from extractors.erp.records import RecordServiceClient
    from sandbox.services import start_services
    from tests.support.sandbox import build_tiny_erp_world

    todo = entries(args.entries)
    with tempfile.TemporaryDirectory() as tmp:
        world = build_tiny_erp_world(Path(tmp) / "world", invoices=10)
        with start_services(world, None, Path(tmp) / "state", services=("erp",)) as sandbox:
            base, token = sandbox.env["Q2C_ERP_BASE_URL"], sandbox.env["Q2C_ERP_TOKEN"]
            client = RecordServiceClient(
                ErpCredentials(base, token),
                max_in_flight=args.in_flight,
                async_threshold=0 if args.mode == "async" else len(todo) + 1,
                poll_interval=0.05,
            )
            started = time.perf_counter()
            rerun = None
            try:
                if args.engine:
                    results, rerun = through_engine(client, todo, Path(tmp))
                else:
                    results = [r.status for r in client.post(todo)]
            finally:
                client.close()
            seconds = time.perf_counter() - started - (rerun or 0.0)
            journal = httpx.get(base + "/__sandbox/record-journal", timeout=120).json()["items"]
    created = sum(1 for r in journal if r["operation"] == "created")
    posted = results.count("posted")
    path = "run_export" if args.engine else "adapter"
    print(
        f"erp upsert via {path} ({args.mode}, {args.in_flight} in flight): "
        f"{len(todo):,} entries in {seconds:.1f} s = {len(todo) / seconds:,.0f} entries/s; "
        f"posted {posted:,}, "
        f"ERP journal created {created:,}, requests {client.requests_made:,}, "
        f"retries {client.retries:,}; load average {os.getloadavg()[0]:.2f} "
        f"on {os.cpu_count()} CPUs (shared machine)"
        + (f"; rerun of the delivered day {rerun:.1f} s, nothing sent" if rerun is not None else "")
    )


if __name__ == "__main__":
    main()
