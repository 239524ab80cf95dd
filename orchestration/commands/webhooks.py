"""`q2c webhooks`: the billing webhook intake (read-only phase: receive, verify, store).

- `q2c webhooks serve [--host H] [--port P]`: the intake app (`orchestration/webhook_app.py`)
  under uvicorn; endpoint `POST /webhooks/billing`, counters at `GET /metrics`. Secrets come from
  `Q2C_BILLING_WEBHOOK_SECRETS` (comma-separated `whsec_...`, several during a rotation), the
  tolerance from `Q2C_BILLING_WEBHOOK_TOLERANCE` (seconds, default 300).
- `q2c webhooks recover [--reconcile] [--json]`: land in the inbox the events the endpoint never
  received (`GET /v1/events?delivery_success=false`, oldest first; `--reconcile`: every event the
  API lists that the inbox lacks), then re-read their objects (`BillingExtractor.apply_inbox`).
- `q2c webhooks status [--json]`: the intake's counters and how many inbox events wait.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console

from orchestration.commands.json_output import JsonFlag, fail, json_or_logs, say

app = typer.Typer(no_args_is_help=True)
console = Console(stderr=True)


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8787, "--port", help="Port to listen on."),
) -> None:
    """Receive billing webhooks: verify, store in raw.billing__webhook_event, count."""
    import uvicorn

    from orchestration.webhook_app import PATH, IntakeConfig, create_app
    from q2c.settings import load_settings

    settings = load_settings()
    secrets = [s.get_secret_value() for s in settings.billing_webhook_secrets]
    if not secrets:
        console.print("no webhook secret: set Q2C_BILLING_WEBHOOK_SECRETS (whsec_..., comma-sep)")
        raise typer.Exit(2)
    config = IntakeConfig(
        warehouse_url=settings.warehouse_url,
        secrets=secrets,
        tolerance_s=settings.billing_webhook_tolerance_s,
    )
    console.print(f"webhook intake on http://{host}:{port}{PATH} ({len(secrets)} secret(s))")
    uvicorn.run(create_app(config), host=host, port=port, log_level="info", access_log=False)


@app.command("recover")
def recover(
    reconcile: bool = typer.Option(
        False, "--reconcile", help="Compare every listed event with the inbox, not only failed."
    ),
    as_json: JsonFlag = False,
) -> None:
    """Land the events the webhook endpoint never received, then re-read their objects."""
    from extractors.errors import SystematicError, TransientError
    from orchestration.resources import BillingApiResource
    from q2c.settings import load_settings
    from q2c.warehouse import Warehouse

    settings = load_settings()
    billing = BillingApiResource(
        api_base=settings.billing_api_base, api_key=settings.billing_api_key or ""
    )
    try:
        with (
            json_or_logs(as_json),
            Warehouse.from_url(settings.warehouse_url) as wh,
            billing.extractor(wh, "manual-webhooks-recover") as extractor,
        ):
            recovered = extractor.recover_events(reconcile=reconcile)
            applied = extractor.apply_inbox()
    except (SystematicError, TransientError) as exc:
        fail(str(exc), as_json=as_json)
    document = {
        "mode": recovered.mode,
        "listed": recovered.rows_read,
        "landed_in_inbox": recovered.landed,
        "already_in_inbox": recovered.duplicates,
        "quarantined": recovered.quarantined,
        "events_processed": applied.events_processed,
        "objects_reread": applied.objects_reread,
    }
    say(document, _lines(document), as_json=as_json)


@app.command("status")
def status(as_json: JsonFlag = False) -> None:
    """The intake's counters (stored, duplicate, refused by reason) and the pending events."""
    from extractors.billing.webhooks import intake_counts, pending_events
    from q2c.settings import load_settings
    from q2c.warehouse import Warehouse

    with json_or_logs(as_json), Warehouse.from_url(load_settings().warehouse_url) as wh:
        document = {"counts": intake_counts(wh), "pending": len(pending_events(wh))}
    say(document, _lines(document), as_json=as_json)


def _lines(document: dict[str, Any]) -> str:
    return "\n".join(f"{key}: {value}" for key, value in document.items())
