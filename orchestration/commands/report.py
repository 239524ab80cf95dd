"""`q2c report`: the period reconciliation report finance reads and signs.

- `q2c report [--period 2026-10] [--out DIR] [--json]`: read the warehouse
  (`Q2C_WAREHOUSE_URL`) and write `report-<period>.html` (one self-contained page with inline
  SVG charts), `.xlsx` (one sheet per section) and `.json` under DIR (default
  `$Q2C_HOME/reports`). Without `--period`: the last whole month before the data's as-of time.
- Prints the paths and a one-line summary per section, or with `--json` one JSON object
  (paths, header, section statuses and row counts). Exits 1 with the reason when the
  warehouse was never built or the period is malformed.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import typer
from rich.console import Console

from orchestration.commands.json_output import emit_json, fail, json_or_logs
from q2c.policy import load_contract
from q2c.reports import Period, Report, build_report, closed_period, write_report
from q2c.settings import load_settings
from q2c.warehouse import Warehouse

console = Console()


def write_period_report(
    period: str | None = None, out: Path | None = None, *, run_id: str | None = None
) -> tuple[Report, dict[str, Path]]:
    """Build and write the report from the configured warehouse (the command and `q2c demo`).

    Raises:
        ValueError: a malformed period, or a warehouse that was never built.
    """
    settings = load_settings()
    with Warehouse.from_url(settings.warehouse_url) as wh:
        chosen = Period.parse(period) if period else closed_period(wh)
        built = build_report(wh, load_contract(), chosen, run_id=run_id or f"cli-{uuid.uuid4()}")
    return built, write_report(built, out or settings.home / "reports")


def report(
    period: str | None = typer.Option(
        None, "--period", "-p", help="Month YYYY-MM (default: the last whole month of data)."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output directory (default: $Q2C_HOME/reports)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Write the period's reconciliation report: HTML with charts, XLSX workbook, JSON."""
    try:
        with json_or_logs(as_json):
            built, paths = write_period_report(period, out)
    except ValueError as exc:
        fail(f"q2c report: {exc}", as_json=as_json)
    chosen = built.header["period"]
    summary = {
        "period": chosen,
        "run_id": built.header["run_id"],
        "paths": {k: str(v) for k, v in paths.items()},
        "verdict": built.header["verdict"],
        "sections": {s.key: {"status": s.status, "rows": len(s.rows)} for s in built.sections},
    }
    if as_json:
        emit_json(summary)
        return
    console.print(f"[bold]Reconciliation report {chosen}[/bold] ({built.header['verdict']})")
    for s in built.sections:
        state = f"{len(s.rows)} rows" if s.status == "ok" else s.message
        console.print(f"  {s.title}: {state}", markup=False, highlight=False)
    for kind, path in paths.items():
        console.print(f"  {kind}: {path}", markup=False, highlight=False)


def evidence(
    period: str | None = typer.Option(
        None, "--period", "-p", help="Month YYYY-MM (default: the last whole month of data)."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output directory (default: $Q2C_HOME/evidence)."
    ),
    dbt_target: Path | None = typer.Option(
        None, "--dbt-target", help="Where dbt wrote run_results.json (default: the project's)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Write the period's evidence pack: a zip with a SHA-256 manifest of every file."""
    from orchestration.assets.dbt import DBT_PROJECT_DIR
    from q2c.reports.evidence import build_evidence_pack, write_evidence_pack

    settings = load_settings()
    contract = load_contract()
    run_id = f"cli-{uuid.uuid4()}"
    try:
        with json_or_logs(as_json), Warehouse.from_url(settings.warehouse_url) as wh:
            chosen = Period.parse(period) if period else closed_period(wh)
            built = build_report(wh, contract, chosen, run_id=run_id)
            pack = build_evidence_pack(
                wh,
                contract,
                built,
                home=settings.home,
                dbt_target=dbt_target or DBT_PROJECT_DIR / "target",
            )
    except ValueError as exc:
        fail(f"q2c evidence: {exc}", as_json=as_json)
    path = write_evidence_pack(
        pack,
        (out or settings.home / "evidence") / f"evidence-{chosen}.zip",
        meta={"entity": contract.company, "period": str(chosen), "run_id": run_id},
    )
    summary = {
        "period": str(chosen),
        "path": str(path),
        "files": len(pack.files),
        "missing": pack.missing,
    }
    if as_json:
        emit_json(summary)
        return
    console.print(f"[bold]Evidence pack {chosen}[/bold]: {path} ({len(pack.files)} files)")
    for item, reason in pack.missing.items():
        console.print(f"  not included: {item}: {reason}", markup=False, highlight=False)
