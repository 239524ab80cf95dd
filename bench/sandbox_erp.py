"""Benchmark: SuiteQL rows per second served by the ERP stand-in, paging `transactionline`.

Starts the ERP stand-in in its own process (`python -m sandbox.serve --services erp`, as
`q2c sandbox up` runs it) over a world, then pages `SELECT * FROM transactionline` (and the
same ordered by `transaction, id`, and the extractor's incremental line query: lines joined
to their transaction, ordered by `lastmodifieddate`) with `limit=1000` to the end with one
keep-alive httpx client, parsing each page with orjson, and prints rows/s. Then it runs the
same listing with the `netsuite` package (OAuth 1.0 signed requests, one connection per request).

The world is a generated one (`--world DIR`, e.g. `.q2c/sandbox/world`, or `--scale S|M`
with `sandbox.world.generate`) or, by default, a synthetic `erp.sqlite` of `--invoices`
two-line invoices (45,000 invoices: 90,000 lines, inside SuiteQL's 100,000-row window).

With `--verify-counts` it then pages every table by keyset (`WHERE key > last ORDER BY key`,
as an extractor must past the 100,000-row window) and compares the counts with `truth.counts`.

    .venv/bin/python bench/sandbox_erp.py [--invoices 45000] [--world DIR | --scale S]
        [--verify-counts]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

REPO = Path(__file__).resolve().parents[1]
WINDOW = 100_000  # SuiteQL's offset + limit ceiling: the plain listings stop there
sys.path.insert(0, str(REPO))

from sandbox.erp.auth import TBA  # noqa: E402


def start_server(world: Path, state: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox.serve", "--world", str(world), "--state", str(state)]
        + ["--services", "erp"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            st = json.loads((state / "state.json").read_text())
            if st["pid"] == proc.pid:
                return proc, st["env"]
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the ERP stand-in did not start")


def page_httpx(env: dict[str, str], q: str) -> tuple[int, int, float]:
    url = env["Q2C_ERP_BASE_URL"] + "/services/rest/query/v1/suiteql"
    headers = {"Authorization": f"Bearer {env['Q2C_ERP_TOKEN']}", "Prefer": "transient"}
    rows = pages = offset = 0
    started = time.perf_counter()
    with httpx.Client(timeout=60, trust_env=False) as client:
        while True:
            r = client.post(
                url, params={"limit": 1000, "offset": offset}, json={"q": q}, headers=headers
            )
            r.raise_for_status()
            page = orjson.loads(r.content)
            rows += page["count"]
            pages += 1
            offset += page["count"]
            if not page["hasMore"] or offset + 1000 > WINDOW:
                break
    return rows, pages, time.perf_counter() - started


def page_netsuite(env: dict[str, str], q: str) -> tuple[int, int, float]:
    from netsuite import Config, NetSuite, TokenAuth

    auth = TokenAuth(
        consumer_key=TBA.consumer_key,
        consumer_secret=TBA.consumer_secret,
        token_id=TBA.token_id,
        token_secret=TBA.token_secret,
    )
    ns = NetSuite(Config(account=TBA.account, auth=auth))
    url = env["Q2C_ERP_BASE_URL"] + "/services/rest/query/v1/suiteql"

    async def run() -> tuple[int, int]:
        rows = pages = offset = 0
        while True:
            page = await ns.rest_api.suiteql(q, limit=1000, offset=offset, url=url)
            rows += page["count"]
            pages += 1
            offset += page["count"]
            if not page["hasMore"] or offset + 1000 > WINDOW:
                return rows, pages

    started = time.perf_counter()
    rows, pages = asyncio.run(run())
    return rows, pages, time.perf_counter() - started


KEYS = {
    "transactionline": ("transaction", "id"),
    "previoustransactionlinelink": ("previousdoc", "previousline", "nextdoc", "nextline"),
}


def _after(key: tuple[str, ...], last: tuple[str, ...]) -> str:
    """SuiteQL for `key > last` on a composite key (the subset has no row values)."""
    ors = []
    for i, col in enumerate(key):
        eqs = [f"{key[j]} = {last[j]}" for j in range(i)]
        ors.append("(" + " AND ".join([*eqs, f"{col} > {last[i]}"]) + ")")
    return " OR ".join(ors)


def keyset_count(env: dict[str, str], table: str) -> tuple[int, float]:
    """Every row of `table` by keyset pages (past SuiteQL's 100,000-row window)."""
    url = env["Q2C_ERP_BASE_URL"] + "/services/rest/query/v1/suiteql"
    headers = {"Authorization": f"Bearer {env['Q2C_ERP_TOKEN']}", "Prefer": "transient"}
    key = KEYS.get(table, ("id",))
    order = ", ".join(key)
    seen = 0
    last: tuple[str, ...] | None = None
    started = time.perf_counter()
    with httpx.Client(timeout=120, trust_env=False) as client:
        while True:
            where = f" WHERE {_after(key, last)}" if last else ""
            q = f"SELECT * FROM {table}{where} ORDER BY {order}"
            r = client.post(url, params={"limit": 1000}, json={"q": q}, headers=headers)
            r.raise_for_status()
            page = orjson.loads(r.content)
            seen += page["count"]
            if not page["hasMore"]:
                return seen, time.perf_counter() - started
            last = tuple(page["items"][-1][k] for k in key)


def verify_counts(env: dict[str, str], world: Path) -> None:
    import sqlite3

    with sqlite3.connect(world / "truth.sqlite") as conn:
        truth = dict(conn.execute("SELECT object, n FROM counts WHERE system = 'erp'"))
    for table, n in sorted(truth.items()):
        got, secs = keyset_count(env, table)
        verdict = "ok" if got == n else "MISMATCH"
        print(
            f"keyset {table:28s} {got:>8,d} rows (truth {n:>8,d}) {verdict:8s} "
            f"{got / secs:>10,.0f} rows/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=45_000)
    parser.add_argument("--world", type=Path)
    parser.add_argument("--scale", choices=["S", "M", "L"])
    parser.add_argument(
        "--verify-counts", action="store_true", help="also page every table by keyset vs truth"
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-erp-"))
    if args.world:
        world = args.world
    elif args.scale:
        from sandbox import world as world_mod

        world = tmp / "world"
        world_mod.generate(world, seed=7, scale=args.scale)
    else:
        from tests.support.sandbox import build_tiny_erp_world

        world = build_tiny_erp_world(tmp / "world", customers=2000, invoices=args.invoices)
    proc, env = start_server(world, tmp / "state")
    try:
        print(f"world: {world}  (stand-in pid {proc.pid}, {os.cpu_count()} CPUs)")
        for label, q, fn in [
            (
                "httpx+orjson  SELECT * FROM transactionline",
                "SELECT * FROM transactionline",
                page_httpx,
            ),
            (
                "httpx+orjson  ... ORDER BY transaction, id",
                "SELECT * FROM transactionline ORDER BY transaction, id",
                page_httpx,
            ),
            (
                "httpx+orjson  lines JOIN transaction by lastmod",
                "SELECT tl.*, TO_CHAR(t.lastmodifieddate, 'YYYY-MM-DD\"T\"HH24:MI:SS')"
                " AS line_stamp FROM transactionline tl "
                "INNER JOIN transaction t ON t.id = tl.transaction WHERE t.lastmodifieddate >= "
                "TO_TIMESTAMP('2000-01-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS') "
                "ORDER BY t.lastmodifieddate, tl.transaction, tl.id",
                page_httpx,
            ),
            (
                "netsuite pkg  SELECT * FROM transactionline",
                "SELECT * FROM transactionline",
                page_netsuite,
            ),
        ]:
            rows, pages, secs = fn(env, q)
            print(
                f"{label:48s} {rows:>8,d} rows {pages:>4d} pages {secs:6.2f} s "
                f"{rows / secs:>10,.0f} rows/s"
            )
        if args.verify_counts:
            verify_counts(env, world)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
