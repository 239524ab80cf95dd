"""`q2c review`: the manual review queue (`ops.review_items`, q2c/review).

- `q2c review list [--all] [--json]`: open items (every item with `--all`);
- `q2c review show ID [--json]`: one item with its approval packet (masked);
- `q2c review resolve ID --decision approve|reject --by NAME [--note TEXT]`: record who
  decided what and when; the subject's hold on its flow ends. Exits 1 with the reason for an
  unknown or already resolved item.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich.console import Console
from rich.table import Table

from orchestration.commands.json_output import emit_json, fail, json_or_logs
from q2c.review import list_items, resolve
from q2c.settings import load_settings
from q2c.warehouse import Warehouse

app = typer.Typer(no_args_is_help=True)
console = Console()


def _dump(item: object) -> dict:
    return json.loads(json.dumps(asdict(item), default=str))  # type: ignore[call-overload]


@app.command("list")
def list_command(
    all_items: bool = typer.Option(False, "--all", help="Resolved items too."),
    as_json: bool = typer.Option(False, "--json", help="Print the items as JSON."),
) -> None:
    """Review items, open ones by default."""
    with json_or_logs(as_json), Warehouse.from_url(load_settings().warehouse_url) as wh:
        items = list_items(wh, status=None if all_items else "open")
    if as_json:
        emit_json([_dump(i) for i in items])
        return
    table = Table(title=f"review items ({len(items)})")
    for col in ("id", "flag", "flow", "subject", "status", "opened"):
        table.add_column(col)
    for i in items:
        table.add_row(
            i.review_id,
            i.flag,
            i.flow,
            f"{i.subject_type} {i.subject_id}",
            i.status,
            f"{i.opened_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@app.command("show")
def show(
    review_id: str = typer.Argument(..., help="The item's id (from `q2c review list`)."),
    as_json: bool = typer.Option(False, "--json", help="Print the item as JSON."),
) -> None:
    """One item with its approval packet."""
    with json_or_logs(as_json), Warehouse.from_url(load_settings().warehouse_url) as wh:
        found = [i for i in list_items(wh, status=None) if i.review_id == review_id]
    if not found:
        fail(f"q2c review: no review item {review_id!r}", as_json=as_json)
    dumped = _dump(found[0])
    if as_json:
        emit_json(dumped)
        return
    for key, value in dumped.items():
        shown = json.dumps(value, indent=2) if isinstance(value, dict) else value
        console.print(f"{key}: {shown}", markup=False, highlight=False)


@app.command("resolve")
def resolve_command(
    review_id: str = typer.Argument(..., help="The item's id."),
    decision: str = typer.Option(..., "--decision", help="approve or reject."),
    by: str = typer.Option(..., "--by", help="Who decides (recorded)."),
    note: str | None = typer.Option(None, "--note", help="Why (recorded)."),
    as_json: bool = typer.Option(False, "--json", help="Print the resolved item as JSON."),
) -> None:
    """Record a decision on an open item; its hold on the flow ends."""
    try:
        with json_or_logs(as_json), Warehouse.from_url(load_settings().warehouse_url) as wh:
            item = resolve(wh, review_id, decision=decision, by=by, note=note)  # type: ignore[arg-type]
    except ValueError as exc:
        fail(f"q2c review: {exc}", as_json=as_json)
    if as_json:
        emit_json(_dump(item))
        return
    console.print(
        f"{item.review_id}: {item.decision} by {item.resolved_by} at {item.resolved_at}",
        markup=False,
        highlight=False,
    )
