"""Benchmark: `dbt build` time of the q2c project, and reconciliation precision/recall at M.

Prints, for the worlds asked for:
- DuckDB: raw load time (test loader), `dbt build` wall time, models/tests counts, and
  precision/recall of `reconciliation.rec_breaks` against `truth.discrepancies`;
- Postgres (a throwaway PostgreSQL 15 started for the run): the same at S.

The raw tables are filled by the TEST loader (tests/support/raw_from_world.py), not the
extractors, so the figures are dbt's own. Usage:

    .venv/bin/python -m bench.dbt_build [--scales S,M] [--postgres-scales S]
        [--world S=/path/to/world --world M=/path/to/world] [--work-dir DIR]
        [--advance-days N]

With `--advance-days N`, after the full build a copy of the world is advanced N days, the change
landed through the real landing path (`land_page`), and an incremental `dbt build` is timed
against a `--full-refresh` one of the same raw tables (cumulative model and test seconds from
run_results.json for each).

A world not given is generated (seed 7) into the work dir; M takes minutes to generate.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

from tests.support.raw_from_world import load_raw_from_world, run_dbt
from tests.support.reconciliation_truth import break_key, truth_keys

#: what the pipeline's dbt asset runs (orchestration/assets/dbt.py dbt_build_args)
BUILD = ["build", "--exclude-resource-type", "unit_test"]


def score(world_dir: Path, rows: list[tuple]) -> str:
    truth, found = truth_keys(world_dir), {break_key(*row) for row in rows}
    misses, fps = truth - found, found - truth
    recall = 1 - len(misses) / len(truth) if truth else 1.0
    precision = 1 - len(fps) / len(found) if found else 1.0
    return (
        f"truth={len(truth)} breaks={len(found)} recall={recall:.4%} precision={precision:.4%}"
        f" misses={len(misses)} false_positives={len(fps)}"
    )


def summary(output: str) -> str:
    m = re.search(r"Done\. PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+)", output)
    return f"PASS={m[1]} WARN={m[2]} ERROR={m[3]} SKIP={m[4]}" if m else "no summary"


def world_for(scale: str, given: dict[str, Path], work: Path) -> Path:
    if scale in given:
        return given[scale]
    from sandbox import world

    path = work / f"world_{scale}"
    path.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    world.generate(path, seed=7, scale=scale)
    print(f"[{scale}] world generated in {time.perf_counter() - t0:.1f} s")
    return path


def bench(scale: str, world_dir: Path, url: str, work: Path, fetch_breaks) -> None:
    target = "postgres" if url.startswith("postgres") else "duckdb"
    t0 = time.perf_counter()
    counts = load_raw_from_world(world_dir, url)
    load_s = time.perf_counter() - t0
    rows = sum(counts.values())
    print(f"[{scale} {target}] raw load (test loader): {rows} rows in {load_s:.1f} s")
    t0 = time.perf_counter()
    dbt_dir = work / f"dbt_{scale}_{target}"
    _, out = run_dbt(BUILD, url, dbt_dir, check=False)
    build_s = time.perf_counter() - t0
    print(f"[{scale} {target}] dbt build: {build_s:.1f} s wall, {summary(out)}")
    print(f"[{scale} {target}] {node_times(dbt_dir)}")
    print(f"[{scale} {target}] reconciliation: {score(world_dir, fetch_breaks())}")


def node_times(dbt_dir: Path) -> str:
    """Cumulative seconds of models, tests and others from the last run's run_results.json."""
    results = json.loads((dbt_dir / "target" / "run_results.json").read_text())["results"]
    kinds: dict[str, float] = {}
    for r in results:
        kind = r["unique_id"].split(".")[0]
        kinds[kind] = kinds.get(kind, 0.0) + float(r.get("execution_time") or 0.0)
    return "cumulative node seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(kinds.items()))


def bench_advanced_day(scale: str, world_dir: Path, url: str, work: Path, days: int) -> None:
    """After the full build: advance a copy of the world, land the change through `land_page`,
    then time an incremental `dbt build` and a `--full-refresh` one of the same raw tables."""
    from sandbox import world
    from tests.support.raw_from_world import land_world

    target = "postgres" if url.startswith("postgres") else "duckdb"
    copy = work / f"world_{scale}_advanced"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(world_dir, copy)
    world.advance(copy, days)
    t0 = time.perf_counter()
    landed = land_world(copy, url, run_id=f"advance-{days}")
    print(
        f"[{scale} {target}] advance {days} d: {sum(landed.values())} versions landed"
        f" in {time.perf_counter() - t0:.1f} s"
    )
    for label, extra in (("incremental", []), ("full refresh", ["--full-refresh"])):
        dbt_dir = work / f"dbt_{scale}_{target}_{label.replace(' ', '_')}"
        t0 = time.perf_counter()
        _, out = run_dbt([*BUILD, *extra], url, dbt_dir, check=False)
        print(
            f"[{scale} {target}] dbt build after advance ({label}): "
            f"{time.perf_counter() - t0:.1f} s wall, {summary(out)}; {node_times(dbt_dir)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="S,M")
    parser.add_argument("--postgres-scales", default="S")
    parser.add_argument("--world", action="append", default=[], help="SCALE=PATH")
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument(
        "--advance-days",
        type=int,
        default=0,
        help="then advance a copy of the world N days, land the change and time an incremental"
        " and a full-refresh dbt build",
    )
    args = parser.parse_args()
    given = {k: Path(v) for k, v in (w.split("=", 1) for w in args.world)}
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="q2c-bench-dbt-"))
    sql = "select break_kind, source_object_id, target_object_id from reconciliation.rec_breaks"

    for scale in [s for s in args.scales.split(",") if s]:
        world_dir = world_for(scale, given, work)
        db = work / f"warehouse_{scale}.duckdb"
        db.unlink(missing_ok=True)

        def fetch(db: Path = db) -> list[tuple]:
            con = duckdb.connect(str(db), read_only=True)
            try:
                return con.execute(sql).fetchall()
            finally:
                con.close()

        bench(scale, world_dir, f"duckdb:///{db}", work, fetch)
        if args.advance_days:
            bench_advanced_day(scale, world_dir, f"duckdb:///{db}", work, args.advance_days)

    pg_scales = [s for s in args.postgres_scales.split(",") if s]
    if pg_scales:
        import psycopg

        from tests.support.postgres import start_postgres, stop_postgres

        server = start_postgres()
        try:
            for scale in pg_scales:
                world_dir = world_for(scale, given, work)
                url = server.create_database(f"bench_{scale.lower()}")

                def fetch(url: str = url) -> list[tuple]:
                    with psycopg.connect(url) as con:
                        return con.execute(sql).fetchall()

                bench(scale, world_dir, url, work, fetch)
                if args.advance_days:
                    bench_advanced_day(scale, world_dir, url, work, args.advance_days)
        finally:
            stop_postgres(server)


if __name__ == "__main__":
    main()
