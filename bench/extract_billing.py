"""Benchmark: billing extraction rows/s landed, peak memory, and the time of a no-change run.

    .venv/bin/python -m bench.extract_billing --scale S
    .venv/bin/python -m bench.extract_billing --scale M --world /tmp/world_m   # reuse a world
    .venv/bin/python -m bench.extract_billing --world DIR --warehouse postgresql://...
    .venv/bin/python -m bench.extract_billing --scale M --faults provider_limits

Generates the world (unless `--world` names one that exists), serves the billing stand-in in a
separate process (`python -m sandbox.serve`), so this process's peak RSS is the extractor's
and the landing's alone, then runs a full first extraction into a fresh warehouse and a second
one that finds nothing new; `--advance-days N` then advances the world N days and times one
more run (the events stream and its targeted re-reads). Prints figures; asserts nothing.

`--faults provider_limits` serves the billing stand-in at the provider's documented ceiling
(100 requests per rolling second, 429 above it; `sandbox/faults.py`): the first run is then
reported as a fraction of that ceiling (its API calls per second over 100), with the 429s it
met; `--max-rps N` paces the client as `Q2C_BILLING_MAX_RPS` does in the pipeline. A backfill
against the real API cannot go faster than the ceiling; the goal is to reach it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _serve(
    world: Path, state: Path, faults: str = "none"
) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox.serve",
            "--world",
            str(world),
            "--state",
            str(state),
            "--services",
            "billing",
            "--faults",
            faults,
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    state_file = state / "state.json"
    while not state_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the billing stand-in did not start")
        time.sleep(0.2)
    return proc, json.loads(state_file.read_text())["env"]


def _rate_limited(env: dict[str, str]) -> int:
    """How many 429s the stand-in answered (its `/__sandbox/stats`)."""
    import httpx

    base = env["Q2C_BILLING_API_BASE"].rstrip("/")
    return int(httpx.get(f"{base}/__sandbox/stats").json()["fired"].get("rate_limit", 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="S")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--world", type=Path, default=None)
    parser.add_argument("--warehouse", default=None, help="default: a fresh DuckDB file")
    parser.add_argument("--batch-size", type=int, default=2_000)
    parser.add_argument("--faults", default="none", help="a sandbox fault profile")
    parser.add_argument(
        "--max-rps", type=float, default=None, help="pace the client (Q2C_BILLING_MAX_RPS)"
    )
    parser.add_argument(
        "--advance-days",
        type=int,
        default=0,
        help="then advance the world this many days and time one incremental run (the events'"
        " targeted re-reads)",
    )
    args = parser.parse_args()

    import duckdb  # noqa: F401  # one-time imports (DuckDB's Arrow scan pulls in pandas) are
    import pandas  # noqa: F401  # paid before the clock starts: they are not throughput
    import pyarrow  # noqa: F401

    from extractors.billing import BillingClient, BillingCredentials, extract_billing
    from q2c.warehouse import Warehouse
    from sandbox.faults import profile

    tmp = Path(tempfile.mkdtemp(prefix="q2c-bench-billing-"))
    world = args.world or tmp / "world"
    if not (world / "billing.sqlite").exists():
        from sandbox import world as world_mod

        t0 = time.monotonic()
        world_mod.generate(world, seed=args.seed, scale=args.scale)
        print(f"generated {args.scale} world in {time.monotonic() - t0:.1f} s at {world}")
    wh_url = args.warehouse or f"duckdb:///{tmp / 'wh.duckdb'}"
    proc, env = _serve(world, tmp / "state", args.faults)
    ceiling = (
        profile(args.faults)["billing"].get("rate_limit", {}).get("per_second")
        if args.faults != "none"
        else None
    )
    try:
        client = BillingClient(
            BillingCredentials(env["Q2C_BILLING_API_BASE"], env["Q2C_BILLING_API_KEY"]),
            max_requests_per_second=args.max_rps,
        )
        rss0 = _peak_rss_mb()
        for label in ("first run (everything new)", "second run (no change)"):
            calls0 = client.api_calls
            t0 = time.monotonic()
            with Warehouse.from_url(wh_url) as wh:
                results = extract_billing(
                    client, wh, run_id=f"bench-{label[:5]}", batch_size=args.batch_size
                )
            seconds = time.monotonic() - t0
            landed = sum(r.landed for r in results)
            seen = landed + sum(r.duplicates for r in results)
            print(
                f"{label}: {landed:,} rows landed, {seen:,} rows read, "
                f"{client.api_calls - calls0:,} API calls in {seconds:.2f} s "
                f"-> {landed / seconds:,.0f} rows/s landed, {seen / seconds:,.0f} rows/s read; "
                f"peak RSS {_peak_rss_mb():.0f} MB (before the runs {rss0:.0f} MB)"
            )
            if label.startswith("first") and ceiling:
                rate = (client.api_calls - calls0) / seconds
                print(
                    f"  provider ceiling {ceiling} requests/s: {rate:,.1f} calls/s = "
                    f"{rate / ceiling:.0%} of it; 429s met: {_rate_limited(env)}"
                )
            if label.startswith("first"):
                top = sorted(results, key=lambda r: r.duration_s, reverse=True)[:5]
                print(
                    "  slowest: "
                    + ", ".join(f"{r.name} {r.landed:,} in {r.duration_s:.1f} s" for r in top)
                )
        if args.advance_days:
            from sandbox.world.advance import advance

            advance(world, args.advance_days)
            calls0, t0 = client.api_calls, time.monotonic()
            with Warehouse.from_url(wh_url) as wh:
                results = extract_billing(client, wh, run_id="bench-advanced")
            events = results[0]
            print(
                f"run after advancing {args.advance_days} days: {time.monotonic() - t0:.2f} s, "
                f"{client.api_calls - calls0:,} API calls; events {events.duration_s:.2f} s "
                f"({events.events_processed:,} events, {events.objects_reread:,} objects re-read, "
                f"{events.api_requests:,} calls); load average {os.getloadavg()[0]:.2f}"
            )
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
