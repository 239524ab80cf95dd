"""`q2c demo`: the README's first command, the whole pipeline against the local sandbox.

It starts the stand-ins exactly as `q2c sandbox up` does (the world generated once, scale S by
default, under `<Q2C_HOME>/sandbox/world`; a detached server process on loopback ports), points
the pipeline at them (the same environment variables a real deployment sets), materializes
every asset through Dagster on the instance in `DAGSTER_HOME` (`q2c run`), writes the ownership
sheet, stops the stand-ins (unless they were already running) and prints where every output is.

It imports nothing of `sandbox`: it goes through the `q2c sandbox` command group, the one part
of the pipeline that may; the pipeline reaches the stand-ins only over HTTP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()

#: The warehouse schemas a user reads, in the order of the flow.
OUTPUT_SCHEMAS = (
    "raw",
    "staging",
    "intermediate",
    "marts",
    "reconciliation",
    "exports",
    "sync",
    "ops",
)


def _table_counts(warehouse_url: str) -> list[tuple[str, int, int]]:
    """(schema, tables, rows) for each output schema of the warehouse."""
    from q2c.warehouse import Warehouse

    out: list[tuple[str, int, int]] = []
    with Warehouse.from_url(warehouse_url) as wh:
        conn = wh.connection
        for schema in OUTPUT_SCHEMAS:
            # `schema` comes from OUTPUT_SCHEMAS above, never from input
            tables = [
                r[0]
                for r in conn.execute(
                    "select table_name from information_schema.tables "
                    f"where table_schema = '{schema}' order by 1"
                ).fetchall()
            ]
            rows = 0
            for table in tables:
                rows += conn.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
            out.append((schema, len(tables), rows))
    return out


def _reconciliation_summary(warehouse_url: str) -> list[tuple[Any, ...]]:
    """Break counts per kind from `reconciliation.rec_breaks` (empty if the model is missing)."""
    from q2c.warehouse import Warehouse

    with Warehouse.from_url(warehouse_url) as wh:
        try:
            return wh.connection.execute(
                "select break_kind, count(*) from reconciliation.rec_breaks "
                "group by break_kind order by 2 desc, 1"
            ).fetchall()
        except Exception:  # the model did not build: the run summary already said why
            return []


def _writeback_summary(warehouse_url: str) -> list[tuple[Any, ...]]:
    """(flow, action, records) of the CRM write-back in `ops.audit_trail` (empty before any)."""
    from q2c.warehouse import Warehouse

    with Warehouse.from_url(warehouse_url) as wh:
        if not wh.table_exists("ops", "audit_trail"):
            return []
        return wh.fetchall(
            "select flow, action, count(distinct match_value) from ops.audit_trail "
            "where target_system <> 'erp' and action in ('written', 'held_by_gate', "
            "'held_for_review', 'would_write', 'conflict_lost', 'dead_lettered', 'paused') "
            "group by flow, action order by flow, action"
        )


def demo(
    scale: str = typer.Option("S", "--scale", help="World size: S, M or L."),
    seed: int = typer.Option(7, "--seed", help="World seed (same seed, same world)."),
) -> None:
    """Generate the world, start the stand-ins, run every asset, print where the outputs are."""
    from orchestration.commands import export as export_command
    from orchestration.commands import sandbox as sandbox_commands
    from orchestration.commands.run import run
    from q2c.settings import export_environment, load_settings

    settings = load_settings()
    root = settings.home / "sandbox"
    world_dir = root / "world"
    already_running = sandbox_commands.running_env(root) is not None
    sandbox_commands.up(
        scale=scale,
        seed=seed,
        profile="default",
        faults="none",
        as_json=False,
        root=root,
        services="billing,salesforce,erp",
        webhook_url=None,
        webhook_secret=None,
        webhook_faults="{}",
    )
    env = sandbox_commands.running_env(root)
    if env is None:
        raise typer.Exit(code=1)
    try:
        export_environment(env)  # the pipeline reaches the stand-ins as it would real services
        console.print("[bold]sandbox[/bold] billing, Salesforce and ERP stand-ins answering")
        try:
            run(json_output=False, select=None, full=False)
            failed = False
        except typer.Exit:
            failed = True
        # the S world's ERP export, gated like any day's: sent, or refused with the reasons
        export_command.demo_export()
    finally:
        if not already_running:
            sandbox_commands.down(root)

    from orchestration.commands.policy import sheet

    evidence = settings.home / "evidence"
    sheet(out=evidence, file=None)
    report = _period_report()  # also when a gate refused: finance reads why
    docs_page = _dbt_docs(settings.warehouse_url)
    _print_outputs(settings.warehouse_url, settings, world_dir, evidence, report, docs_page)
    if failed:
        raise typer.Exit(code=1)


def _period_report() -> dict[str, Path]:
    """The last whole month's reconciliation report, written after the ERP export so its
    batches and gate decisions are in it (`q2c report`)."""
    from orchestration.commands.report import write_period_report

    try:
        _, paths = write_period_report()
    except ValueError as exc:
        console.print(f"[red]report[/red] {exc}", markup=False)
        return {}
    return paths


def _dbt_docs(warehouse_url: str) -> Path | None:
    """The dbt documentation page for analysts (`q2c docs`), or None with dbt's reason."""
    from orchestration.commands.docs import generate_docs
    from orchestration.docs_links import docs_dir

    try:
        page, _ = generate_docs(docs_dir(), warehouse_url)
    except RuntimeError as exc:
        console.print(f"dbt docs: {exc}", markup=False)
        return None
    return page


def _print_outputs(
    warehouse_url: str,
    settings: Any,
    world_dir: Path,
    evidence: Path,
    report: dict[str, Path] | None = None,
    docs_page: Path | None = None,
) -> None:
    table = Table(title="where the outputs are")
    table.add_column("what")
    table.add_column("where")
    table.add_row("warehouse (DuckDB)", warehouse_url)
    for schema, tables, rows in _table_counts(warehouse_url):
        table.add_row(f"  schema {schema}", f"{tables} tables, {rows:,} rows")
    table.add_row("Dagster instance (runs, asset metadata)", str(settings.dagster_home))
    table.add_row("Dagster UI on that instance", "make dev  ->  http://127.0.0.1:3000")
    table.add_row("ownership sheet", f"{evidence}/ownership_sheet.md, ownership_sheet.html")
    if report:
        table.add_row("period report (HTML with charts)", str(report["html"]))
        table.add_row("period report (XLSX workbook)", str(report["xlsx"]))
    if docs_page:
        table.add_row("dbt docs (models, columns, tests, lineage)", str(docs_page))
    table.add_row("sandbox world (stand-ins' data)", str(world_dir))
    console.print(table)
    breaks = _reconciliation_summary(warehouse_url)
    if breaks:
        rec = Table(title="reconciliation breaks (reconciliation.rec_breaks)")
        rec.add_column("break kind")
        rec.add_column("breaks", justify="right")
        for kind, n in breaks:
            rec.add_row(str(kind), f"{n:,}")
        console.print(rec)
    writes = _writeback_summary(warehouse_url)
    if writes:
        crm = Table(title="CRM write-back (ops.audit_trail; records per flow and action)")
        for col in ("flow", "action", "records"):
            crm.add_column(col, justify="right" if col == "records" else "left")
        for flow, action, n in writes:
            crm.add_row(str(flow), str(action), f"{n:,}")
        console.print(crm)
