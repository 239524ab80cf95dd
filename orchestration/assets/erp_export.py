"""The ERP export as a daily-partitioned Dagster asset, and the runner `q2c export erp` shares.

Contract:
- `erp_journal_export` (key `exports/erp_journal_export`, group `erp_export`): one partition per
  day (UTC). Materializing day D runs `q2c.exports.run_export` for D: heal what a crashed run
  left pending, rewrite a delivered day's files byte for byte and send nothing, else cut the
  batch (entries dated on or before D not yet in any batch), gate it (`erp_export`: GE suite,
  rec verdict, kill switch, rollout phase; plus the ERP's decimal places), write
  `$Q2C_HOME/exports/<D>/journal_lines.csv` and `manifest.json`, queue it in the outbox and
  upsert each entry through NetSuite's REST record service (`extractors/erp/records.py`).
  Metadata: status, batch id, entries sent, posted, already posted, rejected (by ERP error
  code), pending, the gate's reasons and the control totals (no row values).
- Downstream of the export model (`exports/export_erp_journal_lines`); a refused batch fails
  the step without retry (`dg.Failure`) with the reasons; entries left pending (retries spent)
  fail it so the `RetryPolicy` runs it again (the outbox makes that safe).
- `ErpExportResource`: requests in flight (default 5), the async threshold, the ERP's decimal
  places; the token comes through `dg.EnvVar`.
- Schedule `erp_export_daily`: read from the contract (`export_schedule`): the sync of the
  entity whose ERP objects are the journals the export posts (`transaction(type=Journal)`):
  its mode must be `batch` (the export is a batch by nature), its `expected_lag` picks how
  often it runs (`orchestration.freshness.cadence_for`; partitions are days, so at most daily:
  a shorter lag is said in the description) and it ticks after the daily extracts land
  (their cron plus `RUN_BUDGET`), exporting yesterday's partition; its `incident_after` must
  allow a day plus that budget (else the definitions do not load, with the reason). Skipped
  while a run of the job is in flight.
"""

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
from pydantic import Field

from extractors.erp import ErpCredentials
from extractors.erp.records import RecordServiceClient
from orchestration.freshness import CADENCES, Lag
from orchestration.log_masking import masked_metadata
from orchestration.policies import RETRY, WAREHOUSE_POOL
from orchestration.resources import WarehouseResource
from q2c.exports import ExportOutcome, run_export
from q2c.settings import Settings, load_settings
from q2c.warehouse import Warehouse

GROUP = "erp_export"
PARTITIONS = dg.DailyPartitionsDefinition(start_date="2024-01-01", timezone="UTC")


class ErpExportResource(dg.ConfigurableResource):
    """How the export reaches the ERP's REST record service."""

    base_url: str
    token: str
    max_in_flight: int = Field(default=5, description="Requests at once (NetSuite governance).")
    async_threshold: int = Field(
        default=500, description="Batches larger than this go as async batch upserts of 100."
    )
    erp_decimal_places: int = Field(
        default=2, description="The most decimals the ERP holds for an amount (NetSuite: 2)."
    )

    def poster(self) -> RecordServiceClient:
        return RecordServiceClient(
            ErpCredentials(base_url=self.base_url, token=self.token),
            max_in_flight=self.max_in_flight,
            async_threshold=self.async_threshold,
        )


def build_erp_export_resource(settings: Settings | None = None) -> ErpExportResource:
    settings = settings or load_settings()
    return ErpExportResource(base_url=settings.erp_base_url or "", token=dg.EnvVar("Q2C_ERP_TOKEN"))


def export_day(
    wh: Warehouse,
    poster: RecordServiceClient | None,
    day: date,
    *,
    run_id: str,
    settings: Settings,
    dry_run: bool = False,
    erp_decimal_places: int = 2,
) -> ExportOutcome:
    """One day's export with the contract's `erp_export` gate (the asset and the command)."""
    from q2c.gates import evaluate_gate, record_gate_decision
    from q2c.policy import load_contract

    contract = load_contract()

    def gate(batch: Any, rid: str) -> Any:
        return evaluate_gate(
            "erp_export", batch, contract=contract, run_id=rid, warehouse=wh, home=settings.home
        )

    return run_export(
        wh,
        poster,
        partition=day,
        gate=gate,
        record_gate=lambda decision: record_gate_decision(wh, decision),
        run_id=run_id,
        out_root=settings.home / "exports",
        dry_run=dry_run,
        erp_decimal_places=erp_decimal_places,
    )


def new_run_id() -> str:
    """A run id for a command-line export (Dagster runs use their own)."""
    return f"manual-{uuid.uuid4()}"


def outcome_metadata(outcome: ExportOutcome) -> dict[str, Any]:
    """Materialization metadata: counts, reasons and control totals (no row values)."""
    meta: dict[str, Any] = {
        "status": outcome.status,
        "batch_id": outcome.batch_id or "",
        "entries": dg.MetadataValue.int(outcome.entries),
        "lines": dg.MetadataValue.int(outcome.lines),
        "posted": dg.MetadataValue.int(outcome.posted),
        "already_posted": dg.MetadataValue.int(outcome.already_posted),
        "rejected": dg.MetadataValue.int(outcome.rejected),
        "pending": dg.MetadataValue.int(outcome.pending),
        "healed_from_earlier_runs": dg.MetadataValue.int(outcome.healed),
        "held_rejected_unchanged": dg.MetadataValue.int(outcome.held_rejected),
        "held_by_gate": dg.MetadataValue.int(outcome.held),
        "held_for_review": dg.MetadataValue.int(outcome.held_for_review),
        # the ERP's error texts and the gate's reasons may quote a record
        **masked_metadata(
            {"rejections_by_erp_code": outcome.errors, "gate_reasons": list(outcome.reasons)}
        ),
    }
    if outcome.manifest:
        manifest = json.loads(outcome.manifest)
        meta["totals_by_currency"] = dg.MetadataValue.json(manifest["totals_by_currency"])
        meta["file_sha256"] = manifest["file"]["sha256"]
    if outcome.files:
        meta["files"] = dg.MetadataValue.json(list(outcome.files))
    return meta


@dg.asset(
    key=["exports", "erp_journal_export"],
    group_name=GROUP,
    partitions_def=PARTITIONS,
    deps=[dg.AssetKey(["exports", "export_erp_journal_lines"])],
    retry_policy=RETRY,
    pool=WAREHOUSE_POOL,
    kinds={"netsuite", "python"},
    tags={"flow": "erp_export"},
    description="The day's ERP journal entries, gated, upserted once each through NetSuite's "
    "REST record service, with the CSV and manifest under $Q2C_HOME/exports/<day>/.",
)
def erp_journal_export(
    context: dg.AssetExecutionContext, erp_export: ErpExportResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    day = date.fromisoformat(context.partition_key)
    poster = erp_export.poster()
    try:
        with warehouse.open() as wh:
            outcome = export_day(
                wh,
                poster,
                day,
                run_id=context.run.run_id,
                settings=load_settings(),
                erp_decimal_places=erp_export.erp_decimal_places,
            )
    finally:
        poster.close()
    if outcome.status == "refused":
        raise dg.Failure(
            description=f"erp_export gate refused batch {outcome.batch_id}",
            metadata=outcome_metadata(outcome),
            allow_retries=False,
        )
    if outcome.pending:
        raise dg.Failure(
            description=f"{outcome.pending} entries still pending (the ERP kept failing)",
            metadata=outcome_metadata(outcome),
        )
    return dg.MaterializeResult(metadata=outcome_metadata(outcome))


erp_export_job = dg.define_asset_job(
    "erp_export_job",
    selection=dg.AssetSelection.assets(erp_journal_export),
    description="Send one day's ERP journal entries (daily partitions).",
)


#: the ERP object the export posts: the entity naming it carries the export's sync
JOURNAL_OBJECT = "transaction(type=Journal)"


def export_schedule(contract: Any) -> tuple[str, str]:
    """(cron, description) of the daily export, from the contract (see the module doc).

    Raises:
        ValueError: no entity names the ERP's journals, its sync is not a batch, or its
            `incident_after` is shorter than a day plus the run budget.
    """
    from orchestration.jobs import RUN_BUDGET
    from q2c.policy.model import duration_seconds

    names = [n for n, e in contract.entities.items()
             if JOURNAL_OBJECT in _as_list(e.objects.get("erp"))]  # fmt: skip
    if not names:
        raise ValueError(f"no contract entity names the ERP's {JOURNAL_OBJECT}: add one")
    sync = contract.entities[names[0]].sync
    if sync.mode != "batch":
        raise ValueError(f"entities.{names[0]}.sync.mode is {sync.mode}: the export is a batch")
    lag = Lag(
        timedelta(seconds=duration_seconds(sync.expected_lag)),
        timedelta(seconds=duration_seconds(sync.incident_after)),
    )
    daily = CADENCES[-1]  # partitions are days: the export runs at most once a day
    if lag.incident_after < daily.interval + RUN_BUDGET:
        raise ValueError(
            f"entities.{names[0]}.sync.incident_after {sync.incident_after} is shorter than a "
            f"daily export plus its run budget ({RUN_BUDGET})"
        )
    minute, hour = daily.cron.split()[:2]
    at = datetime(2000, 1, 1, int(hour), int(minute)) + RUN_BUDGET
    cron = f"{at.minute} {at.hour} * * *"
    note = "" if lag.expected >= daily.interval else (
        f" (the contract asks {sync.expected_lag}; partitions are days, so daily)")  # fmt: skip
    return cron, (
        f"Yesterday's ERP export at {at:%H:%M} UTC, after the daily extracts ({daily.cron}) "
        f"and their run budget: the contract's {names[0]} sync, batch, {lag.describe()}{note}."
    )


def _as_list(value: Any) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def _contract() -> Any:
    from q2c.policy import default_contract

    return default_contract()


EXPORT_CRON, EXPORT_DESCRIPTION = export_schedule(_contract())


@dg.schedule(
    name="erp_export_daily",
    cron_schedule=EXPORT_CRON,
    job=erp_export_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description=EXPORT_DESCRIPTION,
)
def erp_export_daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    from orchestration.jobs import skip_if_running

    skip = skip_if_running(context.instance, erp_export_job.name)
    if skip is not None:
        return skip
    # yesterday (UTC): the last whole day, which the 05:00 ERP extract has seen
    tick = context.scheduled_execution_time or datetime.now(UTC)
    day = (tick.astimezone(UTC) - timedelta(days=1)).date().isoformat()
    return dg.RunRequest(run_key=day, partition_key=day)


erp_export_assets = [erp_journal_export]
erp_export_jobs = [erp_export_job]
erp_export_schedules = [erp_export_daily]
