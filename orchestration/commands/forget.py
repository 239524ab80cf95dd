"""`q2c forget --customer <id> [--report-dir DIR ...] [--json]`: erase one person's PII.

Redacts the billing customer's personal data in raw payloads, `ops.quarantine`, every modeled
table (staging, snapshots, marts...) and the written reports (`$Q2C_HOME/reports` by default),
keeps the financial facts, records an `erased` event in `ops.audit_trail` and scans for what is
left (q2c/erasure.py). Exits 1 for an unknown customer or when the scan still finds something.
Never prints the person's data: only counts and where something remains.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer

from orchestration.commands.json_output import emit_json, fail, json_or_logs
from q2c.erasure import forget_customer
from q2c.settings import load_settings
from q2c.warehouse import Warehouse


def forget(
    customer: str = typer.Option(..., "--customer", help="The billing customer id (cus_...)."),
    report_dir: list[Path] = typer.Option(
        [], "--report-dir", help="Report folders to redact (default: $Q2C_HOME/reports)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Erase a person: redact their PII everywhere, keep the money, audit the erasure."""
    settings = load_settings()
    dirs = report_dir or [settings.home / "reports"]
    try:
        with json_or_logs(as_json), Warehouse.from_url(settings.warehouse_url) as wh:
            result = forget_customer(wh, customer, report_dirs=dirs)
    except LookupError as exc:
        fail(f"error: {exc}", as_json=as_json)
    document = {**asdict(result), "complete": result.complete}
    if as_json:
        emit_json(document)
    else:
        typer.echo(
            f"customer {customer}: {result.identifiers} identifiers; redacted {result.raw_rows}"
            f" raw rows, {result.quarantine_rows} quarantined, {result.table_cells} table cells,"
            f" {result.report_files} report files"
        )
        typer.echo("scan: nothing of the person remains" if result.complete else "scan: FOUND in")
        for where in result.remaining:
            typer.echo(f"  {where}")
    if not result.complete:
        raise typer.Exit(1)
