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
from q2c.settings import load_settings

RECONCILIATION = [
    dg.AssetKey(["reconciliation", name]) for name in ("rec_breaks", "rec_summary", "rec_verdict")
]


class PeriodReportConfig(dg.Config):
    period: str | None = Field(
        default=None, description="Month YYYY-MM; default: the last whole month of data."
    )


@dg.asset(
    key=["reports", "period_report"],
    group_name="reports",
    deps=RECONCILIATION,
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


report_assets = [period_report]
