"""`q2c run`: materialize every asset through Dagster, with progress and a summary.

Contract:
- The run goes through the Dagster instance in `DAGSTER_HOME` (`.q2c/dagster` by default), so
  it appears in the Dagster UI like a scheduled run; it executes in this process with the
  in-process executor (one step at a time: DuckDB allows one writer).
- `run_assets(defs, instance, ...)` is the testable core: it materializes the selected asset keys
  of `defs` (all by default), reports progress through a callback while the run executes (a
  thread reads the run's events from the instance), and returns a `RunSummary`.
- The command prints a rich progress bar and a summary table (rows landed, duplicates,
  quarantined, duration per asset), or with `--json` one JSON object on stdout. It exits 1 when
  any step failed, naming the failed steps. A flow stopped by its output gate (a refused
  blocking check, `orchestration/gates.py`) is listed in `gates_refused`, not a failure.
- `--full` tags the run `q2c/billing_mode=full` (a full billing re-list with deletion checks);
  `--rebuild` tags it `q2c/dbt_rebuild=true` (the dbt build runs even when nothing it reads
  changed; `dbt_skipped` in the summary says why one was left out);
  `--select raw/billing` limits the run to asset keys under those prefixes.

The lead registers it in `orchestration/cli.py`:
`app.command("run", help=...)(orchestration.commands.run.run)`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import typer

from orchestration.gates import GATE_CHECK_SUFFIX

_QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class AssetOutcome:
    """What one asset's materialization reported."""

    asset: str
    rows_landed: int | None = None
    duplicates: int | None = None
    quarantined: int | None = None
    duration_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunSummary:
    """The outcome of one `q2c run`."""

    run_id: str
    success: bool
    seconds: float
    selected: int
    assets: list[AssetOutcome] = field(default_factory=list)
    failed_steps: list[dict[str, str]] = field(default_factory=list)
    #: flows an output gate stopped (its blocking check refused; `orchestration/gates.py`):
    #: the flow's downstream assets did not run, by design, and the run still succeeds
    gates_refused: list[dict[str, str]] = field(default_factory=list)
    #: selected assets the run did not materialize (downstream of a failure or a refused gate)
    not_materialized: list[str] = field(default_factory=list)
    #: why the dbt build was left out (nothing it reads changed; orchestration/assets/dbt.py)
    dbt_skipped: str | None = None

    @property
    def rows_landed(self) -> int:
        return sum(a.rows_landed or 0 for a in self.assets)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["rows_landed"] = self.rows_landed
        return out


ProgressCallback = Callable[[int, int, str], None]


def _metadata_value(value: Any) -> Any:
    return getattr(value, "value", value)


def _int(meta: dict[str, Any], key: str) -> int | None:
    if key not in meta:
        return None
    v = _metadata_value(meta[key])
    return int(v) if isinstance(v, int | float) else None


def _selected_keys(defs: Any, prefixes: Sequence[str] | None) -> list[Any]:
    """Materializable asset keys of `defs`, optionally under `prefixes` (`raw/billing`)."""
    graph = defs.resolve_asset_graph()
    # partitioned assets (the daily ERP export) run per partition: `q2c export erp --date D`
    keys = sorted(
        (k for k in graph.materializable_asset_keys if not graph.get(k).is_partitioned),
        key=lambda k: k.to_user_string(),
    )
    if not prefixes:
        return keys
    wanted = [tuple(p.strip("/").split("/")) for p in prefixes]
    return [k for k in keys if any(tuple(k.path[: len(w)]) == w for w in wanted)]


def run_assets(
    defs: Any,
    instance: Any,
    *,
    select: Sequence[str] | None = None,
    tags: dict[str, str] | None = None,
    on_progress: ProgressCallback | None = None,
    poll_seconds: float = 0.3,
) -> RunSummary:
    """Materialize the assets of `defs` on `instance` in this process and summarize the run.

    Args:
        defs: the `dg.Definitions` (the code location's, or a test's).
        instance: the `DagsterInstance` the run is recorded on.
        select: asset key prefixes (`raw/billing`); all materializable assets when None.
        tags: run tags (e.g. `q2c/billing_mode=full`).
        on_progress: called with (materialized, selected, latest asset) while the run executes.
        poll_seconds: how often the progress thread reads the run's events.

    Returns:
        The summary; `success` is False when any step failed.
    """
    import dagster as dg
    from dagster._core.utils import make_new_run_id

    keys = _selected_keys(defs, select)
    if not keys:
        raise typer.BadParameter(f"no assets match {list(select or [])}")
    job = defs.resolve_implicit_global_asset_job_def()
    run_id = make_new_run_id()
    done = threading.Event()

    def watch(report: ProgressCallback) -> None:
        # reads only the materializations stored since the last look (the event log's cursor)
        seen, cursor = 0, None
        while not done.wait(poll_seconds):
            try:
                page = instance.get_records_for_run(
                    run_id,
                    cursor=cursor,
                    of_type=dg.DagsterEventType.ASSET_MATERIALIZATION,
                    limit=10_000,
                )
            except Exception:  # the run may not be stored yet
                continue
            if page.records:
                seen, cursor = seen + len(page.records), page.cursor
                latest = page.records[-1].event_log_entry.dagster_event.asset_key
                report(seen, len(keys), latest.to_user_string())

    # no callback (`--json`): nothing watches the event log while the run writes it
    watcher = (
        threading.Thread(target=watch, args=(on_progress,), name="q2c-run-progress", daemon=True)
        if on_progress is not None
        else None
    )
    started = time.monotonic()
    if watcher is not None:
        watcher.start()
    try:
        result = job.execute_in_process(
            instance=instance,
            run_id=run_id,
            asset_selection=keys,
            tags=tags or {},
            run_config=_QUIET_LOGS,
            raise_on_error=False,
        )
    finally:
        done.set()
        if watcher is not None:
            watcher.join()
    seconds = time.monotonic() - started

    summary = RunSummary(run_id=run_id, success=result.success, seconds=seconds, selected=len(keys))
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            mat = event.step_materialization_data.materialization
            meta = dict(mat.metadata)
            duration = _metadata_value(meta.get("duration_s"))
            if "dbt_skipped" in meta:
                summary.dbt_skipped = str(_metadata_value(meta["dbt_skipped"]))
            summary.assets.append(
                AssetOutcome(
                    asset=mat.asset_key.to_user_string(),
                    rows_landed=_int(meta, "rows_landed"),
                    duplicates=_int(meta, "duplicates"),
                    quarantined=_int(meta, "quarantined"),
                    duration_s=float(duration) if isinstance(duration, int | float) else None,
                )
            )
        elif event.event_type == dg.DagsterEventType.STEP_FAILURE:
            error = event.step_failure_data.error
            message = error.message.strip().splitlines()[-1] if error else "failed"
            if (event.step_key or "").endswith(GATE_CHECK_SUFFIX):
                summary.gates_refused.append({"step": event.step_key or "", "error": message})
            else:
                summary.failed_steps.append({"step": event.step_key or "", "error": message})
    # a refused gate fails its check step by design (Dagster skips the flow downstream of it);
    # the run succeeds when nothing else failed
    summary.success = result.success or (bool(summary.gates_refused) and not summary.failed_steps)
    done_keys = {a.asset for a in summary.assets}
    summary.not_materialized = [
        k.to_user_string() for k in keys if k.to_user_string() not in done_keys
    ]
    if on_progress is not None:
        on_progress(len(summary.assets), len(keys), "")
    return summary


def _dagster_instance() -> Any:
    """The instance in DAGSTER_HOME (`.q2c/dagster` by default), with q2c's `dagster.yaml`
    (`orchestration/instance.py`: telemetry off, one warehouse writer) on first use."""
    from orchestration.environment import current_environment
    from orchestration.instance import open_instance

    return open_instance(current_environment().dagster_home)


def _print_summary(summary: RunSummary) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"q2c run {summary.run_id[:8]}", show_lines=False)
    table.add_column("asset")
    for col in ("rows landed", "duplicates", "quarantined", "seconds"):
        table.add_column(col, justify="right")
    for a in summary.assets:
        table.add_row(
            a.asset,
            "" if a.rows_landed is None else f"{a.rows_landed:,}",
            "" if a.duplicates is None else f"{a.duplicates:,}",
            "" if a.quarantined is None else f"{a.quarantined:,}",
            "" if a.duration_s is None else f"{a.duration_s:.2f}",
        )
    console.print(table)
    for failure in summary.failed_steps:
        console.print(f"[red]failed[/red] {failure['step']}: {failure['error']}")
    for refusal in summary.gates_refused:
        console.print(f"[yellow]stopped by its gate[/yellow] {refusal['step']}")
    if summary.dbt_skipped:
        console.print(f"dbt build left out: {summary.dbt_skipped} (`q2c run --rebuild` forces it)")
    verdict = "[green]succeeded[/green]" if summary.success else "[red]failed[/red]"
    console.print(
        f"run {summary.run_id} {verdict}: {len(summary.assets)}/{summary.selected} assets "
        f"materialized, {summary.rows_landed:,} rows landed in {summary.seconds:.1f} s. "
        "See it in the Dagster UI (`make dev`)."
    )


def run(
    json_output: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    select: list[str] | None = typer.Option(
        None, "--select", help="Only assets under this key prefix (e.g. raw/billing); repeatable."
    ),
    full: bool = typer.Option(
        False, "--full", help="Re-list billing in full (catches deletions older than 30 days)."
    ),
    full_refresh: bool = typer.Option(
        False, "--full-refresh", help="Rebuild the incremental dbt models in full."
    ),
    rebuild: bool = typer.Option(
        False, "--rebuild", help="Run the dbt build even when nothing it reads changed."
    ),
) -> None:
    """Materialize every asset through Dagster (the run shows in the UI) and print a summary."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from orchestration.commands.json_output import emit_json, logs_to_stderr
    from orchestration.policies import MODE_TAG

    tags = {MODE_TAG: "full"} if full else {}
    if full_refresh:
        from orchestration.assets.dbt import FULL_REFRESH_TAG

        tags[FULL_REFRESH_TAG] = "true"
    if rebuild:
        from orchestration.assets.dbt import REBUILD_TAG

        tags[REBUILD_TAG] = "true"
    if json_output:
        # stdout carries the one JSON document: dbt's manifest step, Dagster's and dbt's log
        # lines all go to stderr
        with logs_to_stderr():
            from orchestration.definitions import defs

            summary = run_assets(defs, _dagster_instance(), select=select, tags=tags)
        emit_json(summary.as_dict())
    else:
        from orchestration.definitions import defs

        instance = _dagster_instance()
        with Progress(
            TextColumn("[bold]materializing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
        ) as progress:
            task = progress.add_task("", total=None)

            def update(done: int, total: int, latest: str) -> None:
                progress.update(task, completed=done, total=total, description=latest)

            summary = run_assets(defs, instance, select=select, tags=tags, on_progress=update)
        _print_summary(summary)
    if not summary.success:
        raise typer.Exit(code=1)
