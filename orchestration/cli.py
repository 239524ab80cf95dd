"""The `q2c` command: one entry point for the sandbox, the pipeline, the contract and the reports.

Each command group lives in its own module under `orchestration/commands/`.
"""

from __future__ import annotations

import typer

from orchestration.commands import demo, policy, report, review, run, sandbox, writeback
from orchestration.commands import export as export_command
from orchestration.commands import incident as incident_command
from orchestration.commands import warehouse as warehouse_command
from orchestration.commands import webhooks as webhooks_command
from orchestration.commands.docs import docs as docs_command
from orchestration.commands.forget import forget
from orchestration.log_masking import install as install_log_masking

install_log_masking()  # what the commands log is masked as the contract says

app = typer.Typer(
    name="q2c",
    help="Quote-to-Cash sync and reconciliation: extract, reconcile, export, write back.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
app.add_typer(sandbox.app, name="sandbox", help="Local stand-ins for billing, Salesforce, ERP.")
app.add_typer(policy.app, name="policy", help="The ownership contract: check it, print the sheet.")
app.command("run", help="Materialize every asset through Dagster, with progress and a summary.")(
    run.run
)
app.command("demo", help="Run the whole pipeline against the local sandbox and print the outputs.")(
    demo.demo
)

app.command("trace", help="The chain of any billing, CRM or ERP id across systems.")(
    writeback.trace
)
app.add_typer(writeback.dlq_app, name="dlq", help="The write-back's dead-letter queue.")
app.add_typer(
    incident_command.writeback_app, name="writeback", help="Write-back: rollback, automations."
)
app.add_typer(
    incident_command.app, name="incident", help="Incident runbook: pause, replay, resume."
)

app.command("report", help="The period reconciliation report: HTML, XLSX, JSON.")(report.report)
app.command("evidence", help="The period's evidence pack (zip, SHA-256 manifest).")(report.evidence)
app.command("docs", help="The dbt documentation as one static page (models, lineage).")(
    docs_command
)
app.add_typer(review.app, name="review", help="The manual review queue: list, show, resolve.")
app.add_typer(export_command.app, name="export", help="Send outputs: q2c export erp --date D.")
app.add_typer(warehouse_command.app, name="warehouse", help="Warehouse administration: roles.")
app.add_typer(
    webhooks_command.app, name="webhooks", help="Billing webhook intake: serve, recover, status."
)
app.command("forget", help="Erase a person's PII everywhere (the money and audit stay).")(forget)

if __name__ == "__main__":
    app()
