"""Benchmark: wall seconds, rows and peak memory of every pipeline stage, each its own process.

    .venv/bin/python -m bench.stages [--world DIR [--in-place] | --scale S|M|L]
                                     [--stages billing,salesforce,...] [--home DIR] [--json]

In a fresh `Q2C_HOME` (a temp dir unless `--home`; embedded DuckDB, SQLite Dagster instance):
`q2c sandbox up` over the world (a copy of `--world DIR` unless `--in-place`: the export and the
write-back change the stand-ins' files; or one generated at `--scale`), then each stage as its
own process (`python -m bench.stages --stage NAME`), one after the other:

- `billing`, `salesforce`, `erp`: the extract + land assets `raw/<source>/*` (a Dagster run of
  that selection, as `q2c run --select raw/<source>` runs it);
- `dbt`: the dbt project's assets with their dbt tests (`dbt build`), without the output gates;
- `gates`: the output gates alone (`orchestration/gates.py`'s checks: the outgoing batches read
  and validated; in their own run they see no failed dbt test of it);
- `erp_export`: `q2c export erp --date D`, D the latest day of the export model;
- `writeback`: the CRM write-back and automations assets (`writeback/*`, `automations/*`);
- `compliance`: the compliance holds (`compliance/*`);
- `report`: the period report and review queue assets (`reports/*`).

For each it prints wall seconds, rows (landed, or written to the warehouse), the peak RSS of
the stage's largest process (its own `ru_maxrss`, and of the processes it waited for: dbt),
the peak of its whole process tree (the sum, sampled from /proc every 0.2 s) and, apart, the
stand-ins' server peak in the same window (the sandbox is not q2c). Figures only; it asserts
nothing. DuckDB's memory settings come from the environment as in any q2c run
(`Q2C_DUCKDB_MEMORY_LIMIT`, `Q2C_DUCKDB_THREADS`, ...: README, "Memory").
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
Q2C = [sys.executable, "-m", "orchestration.cli"]
#: the Dagster selection (asset key prefixes) of each stage run as assets
ASSET_STAGES: dict[str, tuple[str, ...]] = {
    "billing": ("raw/billing",),
    "salesforce": ("raw/salesforce",),
    "erp": ("raw/erp",),
    "writeback": ("writeback", "automations"),
    "compliance": ("compliance",),
    "report": ("reports",),
}
STAGES = ("billing", "salesforce", "erp", "dbt", "gates", "erp_export", "writeback",
          "compliance", "report")  # fmt: skip
PAGE = os.sysconf("SC_PAGE_SIZE")
#: a gate check's step key ends so (`orchestration.gates.GATE_CHECK_SUFFIX`)
GATE_SUFFIX = "_gate_passes"


# -- measuring a process tree from /proc ----------------------------------------------------------
def tree_pids(pid: int) -> list[int]:
    """`pid` and every process below it (from /proc/<pid>/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += [int(p) for p in task.read_text().split()]
            except OSError:
                continue
    return out


def rss_bytes(pid: int) -> int:
    """Resident bytes of one process (0 when it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


class TreePeak:
    """Samples the summed RSS of process trees in a thread; `.peaks` in MB per root."""

    def __init__(self, roots: dict[str, int], every: float = 0.2) -> None:
        self.roots, self.every = roots, every
        self.peaks = dict.fromkeys(roots, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while True:
            for name, pid in self.roots.items():
                mb = sum(rss_bytes(p) for p in tree_pids(pid)) / 2**20
                self.peaks[name] = max(self.peaks[name], mb)
            if self._stop.wait(self.every):
                return

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# -- the stage process -----------------------------------------------------------------------------
def _warehouse_rows(url: str) -> int:
    """Rows of every table in the DuckDB warehouse (DuckDB's own estimate: exact after a load)."""
    from q2c.warehouse import Warehouse

    if not Path(url.removeprefix("duckdb:///")).exists():
        return 0
    with Warehouse.from_url(url) as wh:
        row = wh.fetchone("select coalesce(sum(estimated_size), 0) from duckdb_tables()")
    return int(row[0]) if row else 0


def _dagster_stage(stage: str) -> dict[str, Any]:
    """Run the stage's assets and checks as one in-process Dagster run, as `q2c run` does."""
    import dagster as dg

    from orchestration.assets.dbt import dbt_assets_list
    from orchestration.commands.run import _QUIET_LOGS, _dagster_instance, _selected_keys
    from orchestration.definitions import defs
    from orchestration.gates import GATE_CHECK_SUFFIX

    graph = defs.resolve_asset_graph()
    if stage == "dbt":
        keys = {k for a in dbt_assets_list for k in a.keys}
    elif stage == "gates":
        keys = set()
    else:
        keys = set(_selected_keys(defs, ASSET_STAGES[stage]))

    def wanted(check: dg.AssetCheckKey) -> bool:
        is_gate = check.name.endswith(GATE_CHECK_SUFFIX)
        return is_gate if stage == "gates" else (not is_gate and check.asset_key in keys)

    checks = {c for c in graph.asset_check_keys if wanted(c)}
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection=keys, asset_check_selection=checks
    )
    result = job.execute_in_process(
        instance=_dagster_instance(), run_config=_QUIET_LOGS, raise_on_error=False
    )
    landed, failed = 0, []
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            meta = event.step_materialization_data.materialization.metadata
            value = getattr(meta.get("rows_landed"), "value", None)
            landed += value if isinstance(value, int) else 0
        elif event.event_type == dg.DagsterEventType.STEP_FAILURE:
            failed.append(event.step_key or "")
    return {
        "success": result.success,
        "assets": len(keys),
        "checks": len(checks),
        "rows_landed": landed,
        "failed_steps": failed,
    }


def _erp_export_stage() -> dict[str, Any]:
    """`q2c export erp --date D --json` in this process, D the export model's latest day."""
    import typer

    from orchestration.cli import app
    from orchestration.commands.export import latest_activity_day
    from q2c.settings import load_settings

    day = latest_activity_day(load_settings().warehouse_url)
    if day is None:
        return {"success": False, "error": "the export model is empty or not built"}
    try:
        typer.main.get_command(app).main(
            ["export", "erp", "--date", day.isoformat(), "--json"], standalone_mode=False
        )
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    except typer.Exit as exc:
        code = exc.exit_code
    return {"success": code == 0, "date": day.isoformat(), "exit_code": code}


def run_stage(stage: str) -> dict[str, Any]:
    """The stage process's body: run `stage`, return its figures (rows, own peak RSS)."""
    from q2c.settings import load_settings

    url = load_settings().warehouse_url
    before = _warehouse_rows(url)
    out = _erp_export_stage() if stage == "erp_export" else _dagster_stage(stage)
    out["rows_written"] = _warehouse_rows(url) - before
    out["self_peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out["waited_peak_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    return out


# -- the benchmark ---------------------------------------------------------------------------------
def measure_stage(
    stage: str, env: dict[str, str], server_pid: int, timeout: float | None = None
) -> dict[str, Any]:
    """Run one stage as its own process; its figures, wall seconds and sampled tree peaks.
    After `timeout` seconds the stage's process group is killed and the row says so (the peaks
    are those reached until then)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.stages", "--stage", stage],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    timed_out = False
    with TreePeak({"tree": proc.pid, "server": server_pid}) as peaks:
        try:
            stdout, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, _ = proc.communicate()
    seconds = time.perf_counter() - started
    lines = stdout.decode().strip().splitlines()
    try:
        figures = json.loads(lines[-1]) if lines else {}
    except ValueError:
        figures = {}
    return {
        "stage": stage,
        "seconds": round(seconds, 1),
        "exit_code": proc.returncode,
        "timed_out": timed_out,
        **figures,
        "tree_peak_mb": round(peaks.peaks["tree"]),
        "server_peak_mb": round(peaks.peaks["server"]),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _q2c(args: list[str], env: dict[str, str]) -> bytes:
    return subprocess.run(
        [*Q2C, *args], cwd=ROOT, env=env, check=True, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ).stdout  # fmt: skip


def prepare_world(args: argparse.Namespace, sandbox_dir: Path) -> float:
    """Put the world at `sandbox_dir/world` (copied, linked with `--in-place`, or left for
    `q2c sandbox up` to generate; a `--home` that has one keeps it); seconds spent copying."""
    target = sandbox_dir / "world"
    if args.world is None or target.exists():
        return 0.0
    sandbox_dir.mkdir(parents=True, exist_ok=True)
    if args.in_place:
        target.symlink_to(args.world.absolute())
        return 0.0
    started = time.perf_counter()
    shutil.copytree(args.world, target)
    return time.perf_counter() - started


def run_benchmark(
    args: argparse.Namespace, on_stage: Callable[[dict[str, Any]], None] = lambda row: None
) -> dict[str, Any]:
    """Serve the world, run the stages one after the other; every figure in one document."""
    home = (args.home or Path(tempfile.mkdtemp(prefix="q2c-bench-stages-"))).absolute()
    base = {
        **os.environ,
        "Q2C_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "Q2C_WAREHOUSE_URL": f"duckdb:///{home / 'warehouse.duckdb'}",
    }
    sandbox_dir = home / "sandbox"
    copy_s = prepare_world(args, sandbox_dir)
    started = time.perf_counter()
    up = ["sandbox", "up", "--dir", str(sandbox_dir), "--scale", args.scale, "--json"]
    env = {**base, **json.loads(_q2c(up, base))}
    sandbox_s = time.perf_counter() - started
    server_pid = int(json.loads((sandbox_dir / "state.json").read_text())["pid"])
    rows: list[dict[str, Any]] = []
    try:
        _q2c(["sandbox", "status", "--dir", str(sandbox_dir)], env)
        subprocess.run(
            [sys.executable, "-m", "orchestration.instance", env["DAGSTER_HOME"]],
            cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        for stage in args.stages:
            row = measure_stage(stage, env, server_pid, args.stage_timeout)
            rows.append(row)
            on_stage(row)
    finally:
        subprocess.run(
            [*Q2C, "sandbox", "down", "--dir", str(sandbox_dir)], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    warehouse = home / "warehouse.duckdb"
    return {
        "world": str(args.world or sandbox_dir / "world"),
        "home": str(home),
        "world_copy_seconds": round(copy_s, 1),
        "sandbox_up_seconds": round(sandbox_s, 1),
        "warehouse_mb": round(warehouse.stat().st_size / 2**20) if warehouse.exists() else 0,
        "duckdb": {k: v for k, v in os.environ.items() if k.startswith("Q2C_DUCKDB_")},
        "cpus": os.cpu_count(),
        "stages": rows,
        "peak": max(rows, key=peak_mb)["stage"] if rows else None,
    }


def peak_mb(row: dict[str, Any]) -> int:
    """The stage's peak: the larger of its largest process and its sampled tree."""
    return max(row.get("self_peak_mb", 0), row.get("waited_peak_mb", 0), row["tree_peak_mb"])


def format_row(row: dict[str, Any]) -> str:
    """One stage's line of the table."""
    rows = row.get("rows_landed") or row.get("rows_written", 0)
    failed = row.get("failed_steps") or []
    gates = [s.split("__")[-1] for s in failed if s.endswith(GATE_SUFFIX)]
    status = "ok" if row.get("success") else f"FAILED {failed or row['exit_code']}"
    if gates and len(gates) == len(failed):  # a refusal is an outcome; an error is not
        status = f"gate checks failed (refused, or an error: see the run): {', '.join(gates)}"
    if row.get("timed_out"):
        status = "killed at the timeout (peaks until then)"
    return (
        f"{row['stage']:<11}{row['seconds']:>9.1f}{rows:>12,}{row.get('self_peak_mb', 0):>9,}"
        f"{row.get('waited_peak_mb', 0):>9,}{row['tree_peak_mb']:>9,}{row['server_peak_mb']:>10,}"
        f"  {row['load_average'][0]:>5.2f}  {status}"
    )


HEADER = (
    f"{'stage':<11}{'seconds':>9}{'rows':>12}{'self MB':>9}{'child MB':>9}{'tree MB':>9}"
    f"{'server MB':>10}  {'load':>5}"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--world", type=Path, default=None, help="an existing world directory")
    parser.add_argument(
        "--in-place", action="store_true", help="serve --world itself (the write stages change it)"
    )
    parser.add_argument("--scale", choices=("S", "M", "L"), default="S")
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated, in order")
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help="Q2C_HOME (default: a temp dir); one from an earlier run keeps its world and "
        "warehouse, so later stages can be measured apart (e.g. dbt under two settings)",
    )
    parser.add_argument(
        "--stage-timeout", type=float, default=None, help="kill a stage after this many seconds"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)  # the stage process
    args = parser.parse_args(argv)
    args.stages = [s for s in args.stages.split(",") if s]
    unknown = sorted(set(args.stages) - set(STAGES))
    if unknown:
        parser.error(f"unknown stages {unknown}; known: {', '.join(STAGES)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.stage:
        from orchestration.commands.json_output import logs_to_stderr

        with logs_to_stderr():
            figures = run_stage(args.stage)
        print(json.dumps(figures))
        return
    if not args.json:
        print(f"load average {os.getloadavg()} on {os.cpu_count()} CPUs\n{HEADER}", flush=True)
    out = run_benchmark(args, on_stage=lambda r: args.json or print(format_row(r), flush=True))
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(
        f"world {out['world']} (copied in {out['world_copy_seconds']} s), sandbox up in "
        f"{out['sandbox_up_seconds']} s; warehouse {out['warehouse_mb']:,} MB; DuckDB settings "
        f"{out['duckdb'] or 'defaults'}; the peak: {out['peak']}"
    )


if __name__ == "__main__":
    main()
