"""Benchmark: list objects per second served by the billing stand-in from one endpoint.

Starts the stand-in with uvicorn in its own process (as `q2c sandbox up` runs it) over a
world, then pages through `/v1/charges` (or `--endpoint`) with `limit=100` to the end:

- `httpx + json.loads` / `httpx + orjson.loads`: each page fetched and parsed;
- `stripe SDK raw_request`: the official SDK's request path, body parsed, no objects built;
- `stripe SDK auto_paging_iter`: the SDK building a `StripeObject` per object.

The world is either generated (`--scale S|M`, needs `sandbox.world.generate`) or a synthetic
`billing.sqlite` of `--objects` charges with full-size Stripe charge bodies (default).

    .venv/bin/python bench/sandbox_billing.py [--objects 50000] [--scale S] [--endpoint charges]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import socket
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import stripe

from sandbox.billing.resources import RESOURCES

KEY = "sk_test_bench"
NOW = 1_793_491_200


def _charge(i: int, rng: random.Random) -> dict:
    amount = rng.randrange(500, 500_000)
    created = NOW - i * 37
    cid = f"ch_{i:024d}"
    return {
        "id": cid,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": f"txn_{i:024d}",
        "billing_details": {
            "address": {
                "city": "Springfield",
                "country": "US",
                "line1": f"{i} Main Street",
                "line2": None,
                "postal_code": "12345",
                "state": "IL",
            },
            "email": f"ap{i}@example.test",
            "name": f"Customer {i}",
            "phone": None,
        },
        "calculated_statement_descriptor": "Q2C SAAS",
        "captured": True,
        "created": created,
        "currency": "usd",
        "customer": f"cus_{i % 997:014d}",
        "description": f"Subscription update {i}",
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "invoice": f"in_{i:024d}",
        "livemode": False,
        "metadata": {},
        "on_behalf_of": None,
        "outcome": {
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": rng.randrange(0, 60),
            "seller_message": "Payment complete.",
            "type": "authorized",
        },
        "paid": True,
        "payment_intent": f"pi_{i:024d}",
        "payment_method": f"pm_{i:024d}",
        "payment_method_details": {
            "card": {
                "brand": "visa",
                "checks": {
                    "address_line1_check": "pass",
                    "address_postal_code_check": "pass",
                    "cvc_check": "pass",
                },
                "country": "US",
                "exp_month": 12,
                "exp_year": 2030,
                "fingerprint": f"fp{i:014d}",
                "funding": "credit",
                "installments": None,
                "last4": "4242",
                "mandate": None,
                "network": "visa",
                "three_d_secure": None,
                "wallet": None,
            },
            "type": "card",
        },
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": f"https://pay.example.test/receipts/{cid}",
        "refunded": False,
        "review": None,
        "shipping": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded",
        "transfer_data": None,
        "transfer_group": None,
    }


def synthetic_world(world_dir: Path, n: int) -> None:
    """A `billing.sqlite` holding `n` full-size charges (INTERFACES.md layout)."""
    rng = random.Random(7)
    con = sqlite3.connect(world_dir / "billing.sqlite", isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.executescript(
        """
        CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
        CREATE TABLE objects(object TEXT NOT NULL, id TEXT PRIMARY KEY, created INTEGER NOT NULL,
          parent TEXT, customer TEXT, payout TEXT, status TEXT, type TEXT, delivered INTEGER,
          deleted INTEGER NOT NULL DEFAULT 0, body TEXT NOT NULL);
        CREATE INDEX objects_created ON objects(object, created DESC, id DESC);
        CREATE INDEX objects_customer ON objects(object, customer);
        """
    )
    con.executemany(
        "INSERT INTO meta VALUES (?, ?)", [("seed", "7"), ("scale", "bench"), ("now", str(NOW))]
    )
    con.execute("BEGIN")
    for i in range(n):
        body = _charge(i, rng)
        con.execute(
            "INSERT INTO objects VALUES ('charge', ?, ?, NULL, ?, NULL, 'succeeded', NULL, NULL, "
            "0, ?)",
            (
                body["id"],
                body["created"],
                body["customer"],
                json.dumps(body, separators=(",", ":")),
            ),
        )
    con.execute("COMMIT")
    con.close()


def _serve(world_dir: str, port: int) -> None:
    import uvicorn

    from sandbox.billing import create_app

    uvicorn.run(
        create_app(Path(world_dir)),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        http="httptools",
        lifespan="off",
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _page_all(get: Callable[[str | None], tuple[int, str | None, bool]]) -> int:
    total, after, more = 0, None, True
    while more:
        n, after, more = get(after)
        total += n
    return total


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _report(label: str, n: int, seconds: float, server_cpu: float) -> None:
    capacity = f"{n / server_cpu:>10,.0f}" if server_cpu > 0 else "n/a"
    print(
        f"{label:30s} {n:>9,d} {seconds:7.2f} {n / seconds:>10,.0f} {server_cpu:>13.2f}"
        f"  (server: {capacity} objects per CPU s)"
    )


def _count_row(name: str, n: int, want: int | None, seconds: float) -> None:
    truth = f"{want:,d}" if want is not None else "-"
    print(f"{name:24s} {n:>10,d} {truth:>10s} {seconds:7.2f} {n / max(seconds, 1e-9):>10,.0f}")


def check_counts(base: str, world: Path) -> None:
    """Page every list endpoint to the end (httpx, limit 100) and compare with truth.counts."""
    truth = world / "truth.sqlite"
    if not truth.exists():
        print("no truth.sqlite: counts not checked")
        return
    con = sqlite3.connect(truth)
    counts = dict(con.execute("SELECT object, n FROM counts WHERE system = 'billing'"))
    con.close()
    billing = sqlite3.connect(world / "billing.sqlite")
    parents = {
        "subscription_items": [
            r[0]
            for r in billing.execute(
                "SELECT id FROM objects WHERE object = 'subscription' AND deleted = 0"
            )
        ],
        "lines": [
            r[0]
            for r in billing.execute(
                "SELECT id FROM objects WHERE object = 'invoice' AND deleted = 0"
            )
        ],
    }
    billing.close()
    print(f"{'endpoint':24s} {'listed':>10s} {'truth':>10s} {'s':>7s} {'objects/s':>10s}")
    ok = True
    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {KEY}"}, timeout=60
    ) as http:

        def page_through(path: str, params: dict) -> int:
            total, after = 0, None
            while True:
                query = {**params, "limit": 100, **({"starting_after": after} if after else {})}
                page = orjson.loads(http.get(path, params=query).content)
                total += len(page["data"])
                if not page["has_more"]:
                    return total
                after = page["data"][-1]["id"]

        for name, resource in sorted(RESOURCES.items()):
            start = time.perf_counter()
            if name == "subscription_items":
                n = sum(page_through(f"/v1/{name}", {"subscription": s}) for s in parents[name])
            else:
                n = page_through(
                    f"/v1/{name}", {"status": "all"} if name == "subscriptions" else {}
                )
            dt = time.perf_counter() - start
            want = counts.get(resource.object)
            ok &= n == want
            _count_row(name, n, want, dt)
        start = time.perf_counter()
        n = sum(page_through(f"/v1/invoices/{i}/lines", {}) for i in parents["lines"])
        dt = time.perf_counter() - start
        ok &= n == counts.get("line_item")
        _count_row("invoices/{id}/lines", n, counts.get("line_item"), dt)
    print("page-through counts equal truth.counts" if ok else "COUNTS DIFFER from truth.counts")


def main() -> None:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--objects", type=int, default=50_000, help="synthetic charges")
    ap.add_argument("--scale", help="generate a world at this scale instead (S, M, ...)")
    ap.add_argument("--world", type=Path, help="use an existing world directory")
    ap.add_argument("--endpoint", default="charges")
    ap.add_argument("--rounds", type=int, default=3, help="runs per httpx client")
    ap.add_argument("--sdk-objects", type=int, default=5_000, help="cap for auto_paging_iter")
    ap.add_argument(
        "--check-counts", action="store_true", help="page every endpoint and compare with truth"
    )
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="bench_billing_")
    world = args.world
    if world is None:
        world = Path(tmp.name)
        start = time.perf_counter()
        if args.scale:
            from sandbox.world import generate  # type: ignore[attr-defined]

            generate(world, seed=7, scale=args.scale)
            print(f"world: generated scale {args.scale} in {time.perf_counter() - start:.1f} s")
        else:
            synthetic_world(world, args.objects)
            print(f"world: {args.objects} synthetic charges in {time.perf_counter() - start:.1f} s")
    con = sqlite3.connect(world / "billing.sqlite")
    avg = con.execute(
        "SELECT count(*), avg(length(body)) FROM objects WHERE object = ? AND deleted = 0",
        (RESOURCES[args.endpoint].object,),
    ).fetchone()
    con.close()
    print(f"endpoint /v1/{args.endpoint}: {avg[0]} objects, mean body {avg[1] or 0:.0f} bytes")

    port = _free_port()
    ctx = multiprocessing.get_context("spawn")
    server = ctx.Process(target=_serve, args=(str(world), port), daemon=True)
    server.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(base + "/__sandbox/faults", timeout=1)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    if args.check_counts:
        try:
            check_counts(base, world)
        finally:
            server.terminate()
            server.join(5)
        return
    url = f"{base}/v1/{args.endpoint}"
    print(f"{'client':30s} {'objects':>9s} {'wall s':>7s} {'objects/s':>10s} {'server CPU s':>13s}")
    try:
        with httpx.Client(headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as http:
            for label, loads in (
                ("warm-up", json.loads),
                *[("httpx + json.loads", json.loads)] * args.rounds,
                *[("httpx + orjson.loads", orjson.loads)] * args.rounds,
            ):

                def fetch(
                    after: str | None, loads: Callable = loads
                ) -> tuple[int, str | None, bool]:
                    params = {"limit": 100, **({"starting_after": after} if after else {})}
                    page = loads(http.get(url, params=params).content)
                    last = page["data"][-1]["id"] if page["data"] else None
                    return len(page["data"]), last, page["has_more"]

                cpu0, start = _cpu_seconds(server.pid), time.perf_counter()
                total = _page_all(fetch)
                if label != "warm-up":
                    _report(
                        label, total, time.perf_counter() - start, _cpu_seconds(server.pid) - cpu0
                    )

        client = stripe.StripeClient(KEY, base_addresses={"api": base}, max_network_retries=0)

        def sdk_raw(after: str | None) -> tuple[int, str | None, bool]:
            params = {"limit": 100, **({"starting_after": after} if after else {})}
            page = client.raw_request("get", f"/v1/{args.endpoint}", **params).data
            last = page["data"][-1]["id"] if page["data"] else None
            return len(page["data"]), last, page["has_more"]

        cpu0, start = _cpu_seconds(server.pid), time.perf_counter()
        total = _page_all(sdk_raw)
        _report(
            "stripe SDK raw_request",
            total,
            time.perf_counter() - start,
            _cpu_seconds(server.pid) - cpu0,
        )

        service = getattr(client.v1, args.endpoint)
        cpu0, start = _cpu_seconds(server.pid), time.perf_counter()
        total = 0
        for _obj in service.list({"limit": 100}).auto_paging_iter():
            total += 1
            if total >= args.sdk_objects:
                break
        _report(
            "stripe SDK auto_paging_iter",
            total,
            time.perf_counter() - start,
            _cpu_seconds(server.pid) - cpu0,
        )
        print(
            "objects/s is end to end on one connection (client parsing included); the server's "
            "capacity is objects / server CPU s."
        )
    finally:
        server.terminate()
        server.join(5)
        tmp.cleanup()


if __name__ == "__main__":
    main()
