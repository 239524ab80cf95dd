"""Benchmark: q2c extract+land side by side with the floor (a bare HTTP client) and the dlt peer.

    .venv/bin/python -m bench.compare --scale S [--json]
    .venv/bin/python -m bench.compare --world /tmp/world_m --json      # reuse a world

On one world and one billing + Salesforce stand-in (served in a separate process), one after
the other in this sitting, each in its own child process (so each peak RSS is its own):
- floor: `httpx` paging every billing list endpoint, `/v1/events` included (`limit=100`,
  `starting_after`, the same list parameters q2c sends) and the Salesforce REST query of every
  object q2c extracts (describe, then `SELECT <every field>`, following `nextRecordsUrl`),
  discarding the bytes;
- q2c: `extract_billing` + the Salesforce REST extract of the same objects into a fresh DuckDB;
- dlt (`bench/_dlt_peer.py`; installed by `make bench` from requirements-bench.lock): the same
  billing list endpoints into DuckDB, twice: `max_table_nesting=0` (JSON kept, the shape q2c
  lands; the fair comparison) and dlt's default nesting. Compared with q2c's billing part
  (its own clock inside the q2c run), with the rows each landed. Without dlt it prints
  "dlt: not installed".
Prints seconds, rows, MB, rows/s, MB/s, API calls and peak RSS of each and the q2c/floor and
dlt/q2c ratios; `--json` prints one object instead (`q2c_seconds`, `floor_seconds`,
`dlt_seconds`, rows...). Asserts nothing. The machine's load average is printed too.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing as mp
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SF_OBJECTS = ("Account", "Contact", "Opportunity", "Case", "User")
SF_API = "v59.0"


@dataclass
class Measurement:
    """One contender's figures (`rows` read or landed, `mb` of response bodies when known)."""

    name: str
    seconds: float
    rows: int
    api_calls: int
    peak_rss_mb: float
    mb: float | None = None
    billing_seconds: float | None = None  # q2c: the billing extract alone (what dlt loads)
    billing_rows: int | None = None
    per_object: dict[str, int] | None = None  # rows per billing object (q2c and dlt)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", choices=("S", "M", "L"), default="S")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--world", type=Path, default=None, help="reuse a generated world")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--no-dlt-default",
        action="store_true",
        help="skip dlt's default nesting (it peaked at 18 GB at M): only max_table_nesting=0",
    )
    return parser.parse_args(argv)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _serve(world: Path, state: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    cmd = [sys.executable, "-m", "sandbox.serve", "--world", str(world), "--state", str(state)]
    proc = subprocess.Popen(
        [*cmd, "--services", "billing,salesforce"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not (state / "state.json").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.terminate()
            raise SystemExit("the stand-ins did not start")
        time.sleep(0.2)
    return proc, json.loads((state / "state.json").read_text())["env"]


def _floor(env: dict[str, str], queue: Any) -> None:
    import httpx

    from extractors.billing.objects import LISTED_OBJECTS, OBJECTS

    rows = calls = nbytes = 0
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {env['Q2C_BILLING_API_KEY']}"}
    with httpx.Client(base_url=env["Q2C_BILLING_API_BASE"], headers=headers, timeout=60) as http:
        for name in ("event", *LISTED_OBJECTS):  # the event stream is a list endpoint too
            obj = OBJECTS[name]
            params: dict[str, Any] = {"limit": 100, **obj.list_params}
            while True:
                response = http.get(obj.list_path or "", params=params)
                response.raise_for_status()
                calls += 1
                nbytes += len(response.content)
                page = response.json()
                rows += len(page["data"])
                if not page.get("has_more") or not page["data"]:
                    break
                params["starting_after"] = page["data"][-1]["id"]
    verify: Any = env.get("Q2C_SALESFORCE_CA_BUNDLE") or True
    with httpx.Client(verify=verify, timeout=60) as http:
        token = http.post(
            env["Q2C_SALESFORCE_LOGIN_URL"].rstrip("/") + "/services/oauth2/token",
            data={
                "grant_type": "password",
                "client_id": env["Q2C_SALESFORCE_CLIENT_ID"],
                "client_secret": env["Q2C_SALESFORCE_CLIENT_SECRET"],
                "username": env["Q2C_SALESFORCE_USERNAME"],
                "password": env["Q2C_SALESFORCE_PASSWORD"],
            },
        )
        token.raise_for_status()
        calls += 1
        auth = token.json()
        base = auth["instance_url"].rstrip("/")
        http.headers["Authorization"] = f"Bearer {auth['access_token']}"
        for sobject in SF_OBJECTS:
            describe = http.get(f"{base}/services/data/{SF_API}/sobjects/{sobject}/describe")
            describe.raise_for_status()
            calls += 1
            fields = [f["name"] for f in describe.json()["fields"] if f["type"] != "address"]
            url: str | None = f"{base}/services/data/{SF_API}/query"
            params = {"q": f"SELECT {', '.join(fields)} FROM {sobject}"}
            while url:
                response = http.get(url, params=params)
                response.raise_for_status()
                calls += 1
                nbytes += len(response.content)
                body = response.json()
                rows += len(body["records"])
                nxt = body.get("nextRecordsUrl")
                url, params = (base + nxt if nxt else None), {}
    seconds = time.perf_counter() - started
    queue.put(asdict(Measurement("floor", seconds, rows, calls, _peak_rss_mb(), nbytes / 1e6)))


def _q2c(env: dict[str, str], warehouse_url: str, queue: Any) -> None:
    import duckdb
    import pandas  # noqa: F401  # one-time imports are paid before the clock starts
    import pyarrow

    from extractors.billing import BillingClient, BillingCredentials, extract_billing
    from extractors.salesforce import SalesforceClient, SalesforceCredentials, SalesforceExtractor
    from q2c.warehouse import Warehouse

    duckdb.connect().register("warmup", pyarrow.table({"a": [1]}))
    billing = BillingClient(
        BillingCredentials(env["Q2C_BILLING_API_BASE"], env["Q2C_BILLING_API_KEY"])
    )
    sf = SalesforceClient(
        SalesforceCredentials(
            login_url=env["Q2C_SALESFORCE_LOGIN_URL"],
            client_id=env["Q2C_SALESFORCE_CLIENT_ID"],
            client_secret=env["Q2C_SALESFORCE_CLIENT_SECRET"],
            username=env["Q2C_SALESFORCE_USERNAME"],
            password=env["Q2C_SALESFORCE_PASSWORD"],
            ca_bundle=env["Q2C_SALESFORCE_CA_BUNDLE"],
        )
    )
    started = time.perf_counter()
    with Warehouse.from_url(warehouse_url) as wh:
        results = extract_billing(billing, wh, run_id="bench-compare")
        billing_seconds = time.perf_counter() - started
        rows = billing_rows = sum(r.landed for r in results)
        calls = billing.api_calls
        ex = SalesforceExtractor(sf, wh, run_id="bench-compare", bulk_threshold=10**12)
        for sobject in SF_OBJECTS:
            result = ex.extract(sobject)
            rows += result.landed
            calls += result.api_requests
    seconds = time.perf_counter() - started
    sf.close()
    figures = Measurement("q2c", seconds, rows, calls, _peak_rss_mb())
    figures.billing_seconds, figures.billing_rows = billing_seconds, billing_rows
    figures.per_object = {r.name: r.tables[r.name].seen for r in results if r.name in r.tables}
    queue.put(asdict(figures))


def _dlt(env: dict[str, str], work_dir: str, nesting: int | None, queue: Any) -> None:
    import dlt  # noqa: F401  # its import is paid before the clock starts

    from bench._dlt_peer import load_billing

    out = load_billing(env, Path(work_dir), max_table_nesting=nesting)
    name = "dlt" if nesting is None else f"dlt (nesting {nesting})"
    figures = Measurement(name, out["seconds"], out["rows"], out["api_calls"], _peak_rss_mb())
    figures.billing_seconds, figures.billing_rows = out["seconds"], out["rows"]
    figures.per_object = out["rows_per_table"]
    queue.put(asdict(figures))


def _in_child(target: Any, *args: Any) -> Measurement:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=target, args=(*args, queue))
    child.start()
    out = queue.get(timeout=6 * 3600)
    child.join()
    return Measurement(**out)


def dlt_available() -> bool:
    return importlib.util.find_spec("dlt") is not None


def row_differences(q2c: Measurement, dlt: Measurement) -> dict[str, list[int | None]]:
    """The billing objects whose row counts differ between q2c (read) and dlt (loaded):
    `{object: [q2c, dlt]}`; empty when they landed the same rows."""
    ours, theirs = q2c.per_object or {}, dlt.per_object or {}
    return {
        name: [ours.get(name), theirs.get(name)]
        for name in sorted(set(ours) | set(theirs))
        if ours.get(name) != theirs.get(name)
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def document(
    floor: Measurement,
    q2c: Measurement,
    dlt: Measurement | None,
    context: dict[str, Any],
    dlt_default: Measurement | None = None,
) -> dict[str, Any]:
    """The `--json` object: the figures of each contender and the ratios. `dlt` is dlt with
    `max_table_nesting=0` (the fair peer), `dlt_default` with its default nesting; both are
    compared with q2c's billing part, the endpoints dlt loads."""
    return {
        **context,
        "floor_seconds": round(floor.seconds, 3),
        "q2c_seconds": round(q2c.seconds, 3),
        "q2c_billing_seconds": q2c.billing_seconds and round(q2c.billing_seconds, 3),
        "dlt_seconds": round(dlt.seconds, 3) if dlt else None,
        "dlt_default_seconds": round(dlt_default.seconds, 3) if dlt_default else None,
        "floor_rows": floor.rows,
        "q2c_rows": q2c.rows,
        "q2c_billing_rows": q2c.billing_rows,
        "dlt_rows": dlt.rows if dlt else None,
        "dlt_rows_equal_q2c": not row_differences(q2c, dlt) if dlt else None,
        "dlt_row_differences": row_differences(q2c, dlt) if dlt else None,
        "q2c_over_floor": _ratio(q2c.seconds, floor.seconds),
        "dlt_over_q2c": _ratio(dlt and dlt.seconds, q2c.billing_seconds),
        "dlt_default_over_q2c": _ratio(dlt_default and dlt_default.seconds, q2c.billing_seconds),
        "dlt": "measured" if dlt else "not installed",
        "contenders": [
            asdict(m) | {"rows_per_s": round(m.rows_per_s)}
            for m in (floor, q2c, dlt, dlt_default)
            if m
        ],
    }


def _print(doc: dict[str, Any]) -> None:
    print(f"world {doc['world']} ({doc['scale']}), load average {doc['load_average']}")
    for m in doc["contenders"]:
        mb = m["mb"]
        rate = f", {mb:,.1f} MB, {mb / m['seconds']:,.1f} MB/s" if mb else ""
        print(
            f"{m['name']:>5}: {m['seconds']:8.2f} s, {m['rows']:,} rows, {m['rows_per_s']:,} rows/s"
            f"{rate}, {m['api_calls']:,} API calls, peak RSS {m['peak_rss_mb']:,.0f} MB"
        )
    print(f"q2c/floor: {doc['q2c_over_floor']}x")
    if doc["dlt_seconds"] is None:
        print("dlt: not installed (make bench installs it)")
        return
    print(
        f"q2c billing part: {doc['q2c_billing_seconds']} s, {doc['q2c_billing_rows']:,} rows; "
        f"dlt landed {doc['dlt_rows']:,} (equal: {doc['dlt_rows_equal_q2c']})"
    )
    print(
        f"dlt/q2c (billing): {doc['dlt_over_q2c']}x with max_table_nesting=0, "
        f"{doc['dlt_default_over_q2c']}x with dlt's default nesting"
    )


def _world_scale(world: Path) -> str | None:
    """The scale a generated world says it has (its truth store's `meta`), if it says."""
    import sqlite3

    truth = world / "truth.sqlite"
    if not truth.exists():
        return None
    with closing(sqlite3.connect(f"file:{truth}?mode=ro", uri=True)) as db:
        row = db.execute("select value from meta where key = 'scale'").fetchone()
    return str(row[0]) if row else None


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="q2c-bench-compare-"))
    world = args.world or tmp / "world"
    if not (world / "billing.sqlite").exists():
        from sandbox import world as world_mod

        world_mod.generate(world, seed=args.seed, scale=args.scale)
    proc, env = _serve(world, tmp / "state")
    try:
        floor = _in_child(_floor, env)
        q2c = _in_child(_q2c, env, f"duckdb:///{tmp / 'q2c.duckdb'}")
        dlt = dlt_default = None
        if dlt_available():
            dlt = _in_child(_dlt, env, str(tmp / "dlt0"), 0)
            if not args.no_dlt_default:
                dlt_default = _in_child(_dlt, env, str(tmp / "dlt_default"), None)
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    context = {
        "scale": _world_scale(world) or args.scale,
        "world": str(world),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "dlt_installed": dlt_available(),
    }
    doc = document(floor, q2c, dlt, context, dlt_default)
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        _print(doc)


if __name__ == "__main__":
    main()
