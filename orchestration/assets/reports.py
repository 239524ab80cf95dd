"""The period reconciliation report as a Dagster asset, materialized after each reconciliation.

Contract:
- `period_report` (key `reports/period_report`, group `reports`): downstream of the dbt
  reconciliation (`reconciliation/rec_breaks`, `rec_summary`, `rec_verdict`); eager, so every
  dbt build that changes them writes a new report. It reads the warehouse with `q2c.reports`
  and writes `report-<period>.html`, `.xlsx` and `.json` under `$Q2C_HOME/reports`, the same
  files as `q2c report`. Period: the run config's `period` (YYYY-MM), else the last whole month
  before the data's as-of time.
- Metadata: the period, the files, the verdict and each section's status and row count; never
  a row's values (masked or not).
"""

# no `from __future__ import annotations`: Dagster resolves the Config class from the
# signature at definition time
import dagster as dg
from pydantic import Field

from orchestration.policies import WAREHOUSE_POOL
from orchestration.resources import WarehouseResource
from q2c.policy import load_contract
from q2c.reports import Period, build_report, closed_period, write_report
from q2c.review import detect_red_flags, list_items, open_items
from q2c.settings import load_settings

RECONCILIATION = [
    dg.AssetKey(["reconciliation", name]) for name in ("rec_breaks", "rec_summary", "rec_verdict")
]
#: the report shows the holds the compliance step wrote (orchestration/assets/compliance.py)
COMPLIANCE_HOLDS = dg.AssetKey(["compliance", "holds"])


class PeriodReportConfig(dg.Config):
    period: str | None = Field(
        default=None, description="Month YYYY-MM; default: the last whole month of data."
    )


@dg.asset(
    key=["reports", "period_report"],
    group_name="reports",
    deps=[*RECONCILIATION, COMPLIANCE_HOLDS],
    pool=WAREHOUSE_POOL,
    kinds={"python", "html"},
    automation_condition=dg.AutomationCondition.eager(),
    description="The period reconciliation report finance signs: HTML with charts, XLSX "
    "workbook and JSON under $Q2C_HOME/reports.",
)
def period_report(
    context: dg.AssetExecutionContext, config: PeriodReportConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    with warehouse.open() as wh:
        period = Period.parse(config.period) if config.period else closed_period(wh)
        report = build_report(wh, load_contract(), period, run_id=context.run.run_id)
    paths = write_report(report, load_settings().home / "reports")
    return dg.MaterializeResult(
        metadata={
            "period": str(period),
            "html": dg.MetadataValue.path(str(paths["html"])),
            "xlsx": dg.MetadataValue.path(str(paths["xlsx"])),
            "verdict": report.header["verdict"],
            "sections": dg.MetadataValue.json(
                {s.key: {"status": s.status, "rows": len(s.rows)} for s in report.sections}
            ),
        }
    )


@dg.asset(
    key=["reports", "review_queue"],
    group_name="reports",
    deps=[*RECONCILIATION, dg.AssetKey(["snapshots", "snap_crm_account_states"])],
    pool=WAREHOUSE_POOL,
    kinds={"python"},
    automation_condition=dg.AutomationCondition.eager(),
    description="Red flags (a break above materiality, credit notes above their invoice, a "
    "person's edit of a q2c-owned CRM field) open review items in ops.review_items; an open "
    "item holds its subject out of its flow until `q2c review resolve`.",
)
def review_queue(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    with warehouse.open() as wh:
        flags = detect_red_flags(wh, load_contract())
        opened = open_items(wh, flags, context.run.run_id)
        still_open = list_items(wh, status="open")
    by_flag: dict[str, int] = {}
    for item in still_open:
        by_flag[item.flag] = by_flag.get(item.flag, 0) + 1
    return dg.MaterializeResult(
        metadata={
            "red_flags": dg.MetadataValue.int(len(flags)),
            "opened": dg.MetadataValue.int(opened),
            "open_by_flag": dg.MetadataValue.json(by_flag),
        }
    )


report_assets = [period_report, review_queue]
