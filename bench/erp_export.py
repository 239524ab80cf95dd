"""Entries per second through the ERP upsert path: the REST record adapter against the stand-in.

Builds a small ERP world (tests/support/sandbox.py), starts the ERP stand-in on a loopback port
and upserts N two-line journal entries with `extractors.erp.records.RecordServiceClient`:
one `PUT .../journalEntry/eid:<id>` per entry (`--mode sync`) or async batch upserts of 100
polled to completion (`--mode async`), `--in-flight` requests at once (the stand-in enforces
NetSuite's default limit of 5). Prints entries/s, the ERP's write-journal count (every entry
created once) and the machine's load average (the machine is shared: figures vary with it).

    .venv/bin/python -m bench.erp_export --entries 10000 --mode sync
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--mode", choices=("sync", "async"), default="sync")
    parser.add_argument("--in-flight", type=int, default=5)
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
            try:
                results = list(client.post(todo))
            finally:
                client.close()
            seconds = time.perf_counter() - started
            journal = httpx.get(base + "/__sandbox/record-journal", timeout=120).json()["items"]
    created = sum(1 for r in journal if r["operation"] == "created")
    posted = sum(1 for r in results if r.status == "posted")
    print(
        f"erp upsert ({args.mode}, {args.in_flight} in flight): {len(todo):,} entries in "
        f"{seconds:.1f} s = {len(todo) / seconds:,.0f} entries/s; posted {posted:,}, "
        f"ERP journal created {created:,}, requests {client.requests_made:,}, "
        f"retries {client.retries:,}; load average {os.getloadavg()[0]:.2f} "
        f"on {os.cpu_count()} CPUs (shared machine)"
    )


if __name__ == "__main__":
    main()
