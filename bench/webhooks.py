"""Benchmark: how soon a day of billing activity lands through webhooks, not the poll.

Generates a world (`--scale`, default S), extracts billing in full, starts the webhook intake
(`orchestration/webhook_app.py`, uvicorn in a thread) and the billing stand-in sending signed
webhooks to it, advances the world `--days` (default 1), then prints: events sent, seconds until
all are in the inbox, the targeted re-reads (`BillingExtractor.apply_inbox`: events, objects
re-read, rows landed, API requests, seconds), and what the poll (`extract_events`) still finds
after (it should be nothing).

    .venv/bin/python -m bench.webhooks [--scale S] [--days 1]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

SECRET = "whsec_bench"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__)
    parser.add_argument("--scale", default="S", choices=["S", "M", "L"])
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    from extractors.billing import (
        BillingClient,
        BillingCredentials,
        BillingExtractor,
        extract_billing,
    )
    from orchestration.webhook_app import PATH, IntakeConfig, create_app
    from q2c.warehouse import Warehouse
    from sandbox import world
    from sandbox.billing.serve import serve_in_thread
    from sandbox.services import start_services

    root = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    try:
        world_dir = root / "world"
        world.generate(world_dir, seed=args.seed, scale=args.scale)
        url = f"duckdb:///{root / 'warehouse.duckdb'}"
        app = create_app(IntakeConfig(warehouse_url=url, secrets=[SECRET]))
        with serve_in_thread(app) as base:
            sandbox = start_services(
                world_dir,
                None,
                root / "state",
                services=("billing",),
                webhook_url=base + PATH,
                webhook_secrets=[SECRET],
            )
            try:
                env = sandbox.env

                def client() -> BillingClient:
                    return BillingClient(
                        BillingCredentials(env["Q2C_BILLING_API_BASE"], env["Q2C_BILLING_API_KEY"])
                    )

                started = time.monotonic()
                with Warehouse.from_url(url) as wh:
                    extract_billing(client(), wh, run_id="bench-initial")
                print(f"initial full extract ({args.scale}): {time.monotonic() - started:.1f} s")
                con = sqlite3.connect(world_dir / "billing.sqlite")
                (before,) = con.execute("select max(rowid) from objects").fetchone()
                t0 = time.monotonic()
                world.advance(world_dir, args.days)
                (sent,) = con.execute(
                    "select count(*) from objects where object = 'event' and rowid > ?", [before]
                ).fetchone()
                con.close()
                received = 0
                while received < sent and time.monotonic() - t0 < 600:
                    time.sleep(0.2)
                    with Warehouse.from_url(url) as wh:
                        if wh.table_exists("raw", "billing__webhook_event"):
                            (received,) = wh.fetchone(
                                "select count(*) from raw.billing__webhook_event"
                            )
                t1 = time.monotonic()
                print(
                    f"advance {args.days} day(s): {sent} events; {received} in the inbox "
                    f"{t1 - t0:.1f} s after the advance started"
                )
                with (
                    Warehouse.from_url(url) as wh,
                    BillingExtractor(client(), wh, run_id="bench-webhook") as extractor,
                ):
                    applied = extractor.apply_inbox()
                t2 = time.monotonic()
                print(
                    f"targeted re-reads: {applied.events_processed} events, "
                    f"{applied.objects_reread} objects re-read, {applied.landed} rows landed, "
                    f"{applied.api_requests} API requests, {t2 - t1:.1f} s "
                    f"(advance to landed: {t2 - t0:.1f} s)"
                )
                with (
                    Warehouse.from_url(url) as wh,
                    BillingExtractor(client(), wh, run_id="bench-poll") as extractor,
                ):
                    polled = extractor.extract_events()
                print(
                    f"the poll after: {polled.events_processed} new events, "
                    f"{polled.objects_reread} re-read, {polled.api_requests} API requests, "
                    f"{time.monotonic() - t2:.1f} s"
                )
                print(f"sender: {sandbox.webhook_sender.stats()}")
            finally:
                sandbox.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
