"""`q2c warehouse`: warehouse administration.

- `q2c warehouse roles apply [--json]`: create the PostgreSQL roles of `deploy/roles.sql`
  (loader, transformer, analyst, finance) and grant them (q2c/warehouse_roles.py); from then
  on the dbt asset grants them again after each build. Exits 1 on DuckDB, which is
  single-user and has no roles.
"""

from __future__ import annotations

from dataclasses import asdict

import typer

from orchestration.commands.json_output import emit_json, fail, json_or_logs
from q2c.policy import default_contract
from q2c.settings import load_settings
from q2c.warehouse import Warehouse
from q2c.warehouse_roles import apply_roles

app = typer.Typer(no_args_is_help=True)
roles_app = typer.Typer(no_args_is_help=True)
app.add_typer(roles_app, name="roles", help="PostgreSQL roles: loader, transformer, analyst...")


@roles_app.command("apply")
def apply(as_json: bool = typer.Option(False, "--json", help="Print the grants as JSON.")) -> None:
    """Create the roles and grant them on the configured PostgreSQL warehouse."""
    try:
        with json_or_logs(as_json), Warehouse.from_url(load_settings().warehouse_url) as wh:
            report = apply_roles(wh, default_contract())
    except ValueError as exc:
        fail(f"error: {exc}", as_json=as_json)
    if as_json:
        emit_json(asdict(report))
        return
    typer.echo(f"roles: {', '.join(report.roles)}")
    granted = sum(len(c) for c in report.analyst_columns.values())
    typer.echo(
        f"analyst: {granted} columns of {len(report.analyst_columns)} marts tables; withheld: "
        + (", ".join(f"{t}.{c}" for t, cs in report.withheld_columns.items() for c in cs) or "none")
    )
    typer.echo(f"finance ops tables: {', '.join(report.finance_ops_tables) or 'none yet'}")
