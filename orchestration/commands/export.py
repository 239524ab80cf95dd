"""`q2c export erp --date D [--dry-run] [--json]`: one day's ERP export from the command line.

The same runner as the Dagster asset (`orchestration.assets.erp_export.export_day`): heal
pending entries, rewrite a delivered day's files and send nothing, or cut, gate, write
`$Q2C_HOME/exports/<D>/journal_lines.csv` and `manifest.json`, queue and upsert. `--dry-run`
decides and writes the files under `<D>/dry-run/` without recording or sending. Prints the
batch's control totals (or one JSON object with `--json`); exits 1 when the gate refused the
batch or entries are left pending.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import typer

app = typer.Typer(no_args_is_help=True)


def print_outcome(outcome: Any) -> None:
    """The outcome and the manifest's control totals as rich tables."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        f"[bold]ERP export {outcome.partition}[/bold] batch {outcome.batch_id}: {outcome.status}; "
        f"{outcome.entries:,} entries, {outcome.lines:,} lines; posted {outcome.posted:,}, "
        f"already posted {outcome.already_posted:,}, rejected {outcome.rejected:,}, "
        f"pending {outcome.pending:,}; held by the gate {outcome.held:,}, "
        f"held for review {outcome.held_for_review:,}"
    )
    for reason in outcome.reasons:
        console.print(f"  [red]refused:[/red] {reason}", markup=False)
    if not outcome.manifest:
        return
    manifest = json.loads(outcome.manifest)
    for line in held_lines((manifest.get("held") or {}).get("by_entry") or {}):
        console.print(f"  held: {line}", markup=False)
    table = Table(title=f"control totals ({manifest['file']['sha256'][:12]}...)")
    for col in ("currency", "debit", "credit"):
        table.add_column(col, justify="right" if col != "currency" else "left")
    for currency, totals in manifest["totals_by_currency"].items():
        table.add_row(currency, totals.get("debit", "0"), totals.get("credit", "0"))
    console.print(table)
    for path in outcome.files:
        console.print(f"  {path}")


def held_lines(by_entry: dict[str, list[str]]) -> list[str]:
    """The manifest's held entries counted apart by why: per break kind (the gate), applied to
    a held invoice (the gate), an open review item (a person must resolve it)."""
    why: dict[str, int] = {}
    for reasons in by_entry.values():
        seen = set()
        for reason in reasons:
            if reason.startswith("open break "):
                seen.add(f"entries with an open {reason.split(' ')[2]} break")
            elif reason.startswith("invoice held: "):
                seen.add("payments or refunds of a held invoice")
            elif reason.startswith("open review item "):
                seen.add("entries an open review item names (q2c review list)")
        for what in seen:
            why[what] = why.get(what, 0) + 1
    return [f"{n:,} {what}" for what, n in sorted(why.items())]


def latest_activity_day(warehouse_url: str) -> date | None:
    """The latest `trandate` of the export model (None when it is empty or not built)."""
    from q2c.warehouse import Warehouse

    with Warehouse.from_url(warehouse_url) as wh:
        if not wh.table_exists("exports", "export_erp_journal_lines"):
            return None
        row = wh.fetchone("select max(trandate) from exports.export_erp_journal_lines")
    return date.fromisoformat(str(row[0])[:10]) if row and row[0] is not None else None


def demo_export() -> None:
    """`make demo`'s export: every entry up to the latest billing activity, through the gate;
    prints what was sent (or why the gate refused it) and the batch's control totals."""
    from q2c.settings import load_settings

    day = latest_activity_day(load_settings().warehouse_url)
    if day is None:
        typer.echo("ERP export: nothing to export (the export model is empty or not built)")
        return
    # refused or left pending: printed by `erp`, and kept for the next run
    with contextlib.suppress(typer.Exit):
        erp(day=day.isoformat(), dry_run=False, json_output=False, max_in_flight=5)


@app.command("erp")
def erp(
    day: str = typer.Option(
        None, "--date", help="The day D (YYYY-MM-DD, UTC): entries dated on or before it."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Decide and write files; send nothing."),
    json_output: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
    max_in_flight: int = typer.Option(5, "--max-in-flight", help="ERP requests at once."),
) -> None:
    """Export one day's journal entries to the ERP (NetSuite REST record service)."""
    from extractors.erp import ErpCredentials
    from extractors.erp.records import RecordServiceClient
    from orchestration.assets.erp_export import export_day, new_run_id
    from orchestration.commands.json_output import emit_json, fail, json_or_logs
    from q2c.settings import load_settings
    from q2c.warehouse import Warehouse

    settings = load_settings()
    when = date.fromisoformat(day) if day else datetime.now(UTC).date() - timedelta(days=1)
    poster = None
    if not dry_run:
        if not settings.erp_base_url or not settings.erp_token:
            raise typer.BadParameter("set Q2C_ERP_BASE_URL and Q2C_ERP_TOKEN (or use --dry-run)")
        creds = ErpCredentials(settings.erp_base_url, settings.erp_token)
        poster = RecordServiceClient(creds, max_in_flight=max_in_flight)
    try:
        with json_or_logs(json_output), Warehouse.from_url(settings.warehouse_url) as wh:
            outcome = export_day(
                wh, poster, when, run_id=new_run_id(), settings=settings, dry_run=dry_run
            )
    except RuntimeError as exc:  # the export model is not built yet
        fail(f"q2c export erp: {exc}", as_json=json_output)
    finally:
        if poster is not None:
            poster.close()
    if json_output:
        out = outcome.as_dict()
        out["manifest"] = json.loads(outcome.manifest) if outcome.manifest else None
        emit_json(out)
    else:
        print_outcome(outcome)
    if outcome.status == "refused" or outcome.pending:
        raise typer.Exit(code=1)
