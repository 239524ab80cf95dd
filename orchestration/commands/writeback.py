"""`q2c trace` and `q2c dlq`: the write-back's audit trail and dead-letter queue.

- `q2c trace <id> [--json]`: the chain for any billing, CRM or ERP id (landed versions, audit
  events, outbox rows, dead letters; `q2c.audit.trace`).
- `q2c dlq list [--object X] [--error-kind K] [--limit N] [--json]`: dead letters, oldest first.
- `q2c dlq show <idempotency key> [--json]`: one dead letter with every attempt's error (masked).
- `q2c dlq redrive [--object X] [--error-kind K] [--limit N] [--dry-run] [--json]`: redrive
  oldest first after the checks of `q2c.writeback.redrive` (still wanted, cause gone, still
  idempotent), against the Salesforce of the environment (`Q2C_SALESFORCE_*`).
The warehouse is `Q2C_WAREHOUSE_URL` (default `.q2c/warehouse.duckdb`).
"""

from __future__ import annotations

import getpass
import json
import uuid
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from orchestration.commands.json_output import emit_json, fail, json_or_logs
from q2c.audit import trace as trace_chain
from q2c.policy.loader import default_contract
from q2c.settings import load_settings
from q2c.warehouse import Warehouse
from q2c.writeback import FLOWS, sync_rows
from q2c.writeback.redrive import redrive as redrive_flow
from q2c.writeback.store import dead_letters

dlq_app = typer.Typer(no_args_is_help=True)
console = Console()

ObjectOpt = typer.Option(None, "--object", help="Only this CRM object (Account, Case).")
KindOpt = typer.Option(None, "--error-kind", help="Only this last error code.")
LimitOpt = typer.Option(None, "--limit", min=1, help="At most this many, oldest first.")
JsonOpt = typer.Option(False, "--json", help="Print JSON on stdout.")


def _warehouse() -> Warehouse:
    return Warehouse.from_url(load_settings().warehouse_url)


def trace(
    any_id: str = typer.Argument(..., help="A billing, CRM or ERP id (cus_..., 001..., ...)."),
    as_json: bool = JsonOpt,
) -> None:
    """The chain from source event to the final record state, across systems."""
    with json_or_logs(as_json), _warehouse() as wh:
        report = trace_chain(wh, any_id)
    if as_json:
        emit_json(report.as_dict())
    else:
        console.print(f"[bold]{any_id}[/]  related ids: {', '.join(report.ids)}")
        table = Table("when", "what", "object", "target", "result", "values / detail")
        for row in report.landed:
            table.add_row(str(row["extracted_at"]), "landed", row["object_id"], row["table"],
                          "", str(row["provider_ref"] or ""))  # fmt: skip
        for e in report.audit:
            values = json.dumps(e["after_values"], default=str) if e["after_values"] else ""
            table.add_row(
                str(e["recorded_at"]),
                e["action"],
                str(e["match_value"] or ""),
                f"{e['target_object'] or ''} {e['target_id'] or ''}",
                str(e["result"] or ""),
                (values + " " + (e["detail"] or "")).strip(),
            )
        console.print(table)
        if report.dead_letters:
            console.print(f"{len(report.dead_letters)} dead letter(s): `q2c dlq show <key>`")
    if not report.found:
        raise typer.Exit(1)


@dlq_app.command("list")
def dlq_list(
    sobject: str | None = ObjectOpt,
    error_kind: str | None = KindOpt,
    limit: int | None = LimitOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Dead letters waiting for a redrive, oldest first."""
    with json_or_logs(as_json), _warehouse() as wh:
        rows = dead_letters(wh, sobject=sobject, error_kind=error_kind, limit=limit)
    if as_json:
        emit_json(rows)
        return
    table = Table("dead since", "key", "object", "record", "attempts", "last error")
    for d in rows:
        table.add_row(str(d["dead_at"]), d["idempotency_key"][:12], d["sobject"],
                      str(d["record_id"] or d["match_value"]), str(d["attempts"]),
                      str(d["error_kind"]))  # fmt: skip
    console.print(table)
    console.print(f"{len(rows)} dead letter(s)")


@dlq_app.command("show")
def dlq_show(
    key: str = typer.Argument(..., help="The idempotency key (or its first characters)."),
    as_json: bool = JsonOpt,
) -> None:
    """One dead letter with every attempt's error."""
    with json_or_logs(as_json), _warehouse() as wh:
        rows = [d for d in dead_letters(wh, status=None) if d["idempotency_key"].startswith(key)]
    if len(rows) != 1:
        fail(f"{len(rows)} dead letters match {key!r}; give more of the key", as_json=as_json)
    if as_json:
        emit_json(rows[0])
        return
    d = rows[0]
    console.print(f"[bold]{d['idempotency_key']}[/] {d['sobject']} {d['record_id']} "
                  f"({d['status']}, {d['attempts']} attempts)")  # fmt: skip
    console.print(f"payload: {json.dumps(d['payload'])}  source: {d['source_ref']}")
    for e in d["errors"]:
        console.print(f"  {e['at']}  {e['code']}: {e['message']} {e.get('fields') or ''}")


@dlq_app.command("redrive")
def dlq_redrive(
    sobject: str | None = ObjectOpt,
    error_kind: str | None = KindOpt,
    limit: int | None = LimitOpt,
    dry_run: bool = typer.Option(False, "--dry-run", help="Check and report; send nothing."),
    as_json: bool = JsonOpt,
) -> None:
    """Redrive dead letters oldest first, each only if still wanted, fixable and idempotent."""
    from extractors.salesforce.client import SalesforceClient, SalesforceCredentials
    from extractors.salesforce.writer import SalesforceWriter

    settings = load_settings()
    contract = default_contract()
    client = SalesforceClient(SalesforceCredentials.from_settings(settings))
    writer = SalesforceWriter(client)
    run_id = f"dlq-redrive-{uuid.uuid4().hex[:12]}"
    out: dict[str, Any] = {"run_id": run_id, "flows": {}}
    try:
        with json_or_logs(as_json), Warehouse.from_url(settings.warehouse_url) as wh:
            for name, spec in FLOWS.items():
                if sobject and spec.sobject != sobject:
                    continue
                report = redrive_flow(
                    wh, writer, contract, run_id=run_id, current_rows=sync_rows(wh, spec),
                    spec=spec, error_kind=error_kind, limit=limit, dry_run=dry_run,
                    actor=f"q2c:dlq-redrive:{getpass.getuser()}",
                )  # fmt: skip
                out["flows"][name] = report.__dict__
    finally:
        client.close()
    if as_json:
        emit_json(out)
        return
    for name, r in out["flows"].items():
        console.print(f"{name}: {r['considered']} considered, {r['redriven']} redriven, "
                      f"{r['dropped']} dropped (no longer wanted), {r['already_done']} already "
                      f"in the CRM, {r['blocked']} blocked, {r['failed']} failed again"
                      + (" (dry run)" if dry_run else ""))  # fmt: skip
