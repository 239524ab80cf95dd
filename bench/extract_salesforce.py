"""Benchmark: Salesforce rows landed per second (REST and Bulk API 2.0) and peak memory.

    .venv/bin/python -m bench.extract_salesforce [--world DIR | --scale M | --accounts N]
                                                 [--warehouse duckdb|postgres-url]

The Salesforce stand-in runs in its own process (`python -m sandbox.serve`), so the memory
figures are the extractor's alone. Each measured run is a fresh child process over an empty
DuckDB warehouse (or the Postgres URL given), and prints:

- REST: a full incremental extract of every object with the Bulk switch disabled;
- Bulk: the same objects through Bulk API 2.0 `queryAll` (streamed to disk, read back in chunks);
- no-change: a second REST run over the landed warehouse (overlap re-read + late-change sweep);

with rows landed, seconds, rows/s and the child's peak RSS (`ru_maxrss`). The world is the
one given, else a generated world of `--scale` (when `sandbox.world.generate` exists), else
the stand-in's synthetic org of `--accounts` accounts.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

OBJECTS = ["Account", "Contact", "Opportunity", "Case", "User"]


def _world(args: argparse.Namespace, tmp: Path) -> Path:
    if args.world:
        return Path(args.world)
    world = tmp / "world"
    if args.scale:
        from sandbox import world as world_gen  # the generator, when it is installed

        world_gen.generate(world, seed=7, scale=args.scale)
        return world
    from sandbox.salesforce.synthetic import write_world

    write_world(world, args.accounts)
    return world


def _serve(world: Path, state: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
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
            "salesforce",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        path = state / "state.json"
        if path.exists():
            return proc, json.loads(path.read_text())["env"]
        if proc.poll() is not None:
            raise SystemExit("the Salesforce stand-in did not start")
        time.sleep(0.1)
    proc.terminate()
    raise SystemExit("the Salesforce stand-in did not start within 60 s")


def _run(env: dict[str, str], warehouse_url: str, mode: str, queue: Any) -> None:
    # import what the landing loads lazily (pyarrow, and pandas through duckdb) before the clock
    # starts: a one-off cost per process, not a per-row one
    import duckdb
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401

    from extractors.salesforce import SalesforceClient, SalesforceCredentials, SalesforceExtractor
    from q2c.warehouse import Warehouse

    duckdb.connect().register("warmup", pyarrow.table({"a": [1]}))

    creds = SalesforceCredentials(
        login_url=env["Q2C_SALESFORCE_LOGIN_URL"],
        client_id=env["Q2C_SALESFORCE_CLIENT_ID"],
        client_secret=env["Q2C_SALESFORCE_CLIENT_SECRET"],
        username=env["Q2C_SALESFORCE_USERNAME"],
        password=env["Q2C_SALESFORCE_PASSWORD"],
        ca_bundle=env["Q2C_SALESFORCE_CA_BUNDLE"],
    )
    client = SalesforceClient(creds)
    started = time.perf_counter()
    landed = read = calls = 0
    with Warehouse.from_url(warehouse_url) as wh:
        ex = SalesforceExtractor(
            client, wh, run_id=f"bench-{mode}", bulk_threshold=10**12, rest_batch_size=2000
        )
        for sobject in OBJECTS:
            result = ex.extract(sobject, force_bulk=(mode == "bulk"))
            landed += result.landed
            read += result.rows_read
            calls += result.api_requests
    seconds = time.perf_counter() - started
    client.close()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put({"mode": mode, "landed": landed, "read": read, "calls": calls, "s": seconds,
               "peak_mib": peak_mib})  # fmt: skip


def _measure(env: dict[str, str], warehouse_url: str, mode: str) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_run, args=(env, warehouse_url, mode, queue))
    child.start()
    out = queue.get(timeout=3600)
    child.join()
    return out


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", help="an existing world directory")
    parser.add_argument("--scale", help="generate a world of this scale (S, M, L)")
    parser.add_argument("--accounts", type=int, default=20_000, help="synthetic org size")
    parser.add_argument("--warehouse", default="duckdb", help="duckdb or a postgresql:// URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="q2c-bench-sf-") as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        world = _world(args, tmp)
        print(f"world: {world} ({time.perf_counter() - t0:.1f} s to prepare)")
        proc, env = _serve(world, tmp / "state")
        try:

            def url(name: str) -> str:
                if args.warehouse == "duckdb":
                    return f"duckdb:///{tmp / name}.duckdb"
                return args.warehouse

            rows = []
            rows.append(("REST", _measure(env, url("rest"), "rest")))
            rows.append(("no-change REST", _measure(env, url("rest"), "rest")))
            if args.warehouse != "duckdb":
                print("(Postgres: the Bulk run lands into the same database: it lands 0 new)")
            rows.append(("Bulk", _measure(env, url("bulk"), "bulk")))
            print(f"{'run':<16}{'rows read':>11}{'landed':>10}{'seconds':>9}{'rows/s':>10}"
                  f"{'API req':>9}{'peak MiB':>10}")  # fmt: skip
            for name, r in rows:
                rate = r["read"] / r["s"] if r["s"] else 0.0
                print(
                    f"{name:<16}{r['read']:>11,}{r['landed']:>10,}{r['s']:>9.2f}{rate:>10,.0f}"
                    f"{r['calls']:>9,}{r['peak_mib']:>10.0f}"
                )
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
