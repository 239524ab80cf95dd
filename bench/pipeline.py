"""Benchmark: the whole pipeline end to end through Dagster (`q2c run`), cold, warm and per day.

    .venv/bin/python -m bench.pipeline --scale M [--days 1,7,30] [--home DIR] [--json]

In a fresh `Q2C_HOME` (a temp dir unless `--home`): `q2c sandbox up --scale X` (the world is
generated once), then, each as its own `q2c run --json` process against embedded DuckDB and a
SQLite Dagster instance:
- cold: the first run (everything new: extract, land, dbt build, gates, outputs);
- no change: the same again at once (it reads back the cold run's own CRM and ERP writes),
  and once more (nothing new anywhere: `dbt build` is left out, `dbt_skipped`);
- after `q2c sandbox advance --days N` for each N of `--days` (the days add up).
Prints wall seconds, the run's own figures (assets, rows landed, refused gates) and the peak
RSS of the largest process of each run (`RUSAGE_CHILDREN`: `q2c run` and the Dagster step
processes it waits for). Asserts nothing; the stand-ins are stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
Q2C = [sys.executable, "-m", "orchestration.cli"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", choices=("S", "M", "L"), default="S")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", default="1", help="comma-separated days to advance, in order")
    parser.add_argument("--home", type=Path, default=None, help="Q2C_HOME (default: a temp dir)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser.parse_args(argv)


def _q2c(args: list[str], env: dict[str, str]) -> tuple[float, dict[str, Any], int]:
    """Run `q2c <args>`; (wall seconds, its JSON stdout or {}, exit code)."""
    started = time.perf_counter()
    proc = subprocess.run(
        [*Q2C, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    seconds = time.perf_counter() - started
    try:
        doc = json.loads(proc.stdout or b"{}")
    except ValueError:
        doc = {}
    return seconds, doc if isinstance(doc, dict) else {}, proc.returncode


def _peak_children_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    """The figures of a `q2c run --json` document worth printing, and the slowest assets."""
    if not doc:
        return {}
    slowest = sorted(doc.get("assets", []), key=lambda a: -(a.get("duration_s") or 0))[:3]
    return {
        "success": doc.get("success"),
        "pipeline_seconds": round(doc.get("seconds") or 0, 1),
        "assets": f"{len(doc.get('assets', []))}/{doc.get('selected')}",
        "rows_landed": doc.get("rows_landed"),
        "gates_refused": len(doc.get("gates_refused", [])),
        "failed_steps": len(doc.get("failed_steps", [])),
        "dbt_skipped": doc.get("dbt_skipped"),
        "slowest": [f"{a['asset']} {a.get('duration_s') or 0:.0f} s" for a in slowest],
        "failures": [
            f"{f.get('step')}: {(f.get('error') or '')[:300]}" for f in doc.get("failed_steps", [])
        ],
    }


def _slowest_steps(dagster_home: str, run_id: str | None, top: int = 5) -> list[str]:
    """The `top` longest steps of a run, from its Dagster instance's step stats (the dbt build
    is one step however many models it materializes)."""
    if not run_id:
        return []
    import dagster as dg

    with dg.DagsterInstance.from_config(dagster_home) as instance:
        stats = instance.get_run_step_stats(run_id)
    timed = [(s.step_key, (s.end_time or 0) - (s.start_time or 0)) for s in stats]
    return [f"{key} {secs:.0f} s" for key, secs in sorted(timed, key=lambda t: -t[1])[:top]]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    home = (args.home or Path(tempfile.mkdtemp(prefix="q2c-bench-pipeline-"))).absolute()
    base = {
        **os.environ,
        "Q2C_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "Q2C_WAREHOUSE_URL": f"duckdb:///{home / 'warehouse.duckdb'}",
    }
    t0 = time.perf_counter()
    up = subprocess.run(
        [*Q2C, "sandbox", "up", "--scale", args.scale, "--seed", str(args.seed), "--json"],
        cwd=ROOT,
        env=base,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    sandbox_s = time.perf_counter() - t0
    env = {**base, **json.loads(up.stdout)}
    rows: list[dict[str, Any]] = []
    try:
        subprocess.run(
            [sys.executable, "-m", "orchestration.instance", env["DAGSTER_HOME"]],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        # The first run after the cold one reads back what the cold run wrote to the CRM and
        # the ERP (new system timestamps): its "no change" is only the world's. The second is
        # a run with nothing new anywhere.
        steps = [("cold", None), ("no change", None), ("no change again", None)]
        steps += [(f"after +{d} day(s)", int(d)) for d in args.days.split(",") if d]
        for label, days in steps:
            if days is not None:
                subprocess.run(
                    [*Q2C, "sandbox", "advance", "--days", str(days), "--json"],
                    cwd=ROOT,
                    env=env,
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            seconds, doc, code = _q2c(["run", "--json"], env)
            rows.append(
                {
                    "run": label,
                    "seconds": round(seconds, 1),
                    "exit_code": code,
                    "peak_rss_mb_so_far": round(_peak_children_mb()),
                    **_summary(doc),
                    "slowest_steps": _slowest_steps(env["DAGSTER_HOME"], doc.get("run_id")),
                }
            )
    finally:
        subprocess.run(
            [*Q2C, "sandbox", "down"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    out = {
        "scale": args.scale,
        "home": str(home),
        "sandbox_up_seconds": round(sandbox_s, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "runs": rows,
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(
        f"{args.scale} world, sandbox up in {out['sandbox_up_seconds']} s, "
        f"load average {out['load_average']}"
    )
    for row in rows:
        extra = ", ".join(f"{k} {v}" for k, v in row.items() if k not in ("run", "seconds"))
        print(f"{row['run']:>18}: {row['seconds']:8.1f} s ({extra})")


if __name__ == "__main__":
    main()
