"""Assemble the period report from the warehouse: header, sections, charts, masking."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from q2c.masking import MaskContext, mask_text
from q2c.policy.model import Contract
from q2c.reports import charts, operations, sections
from q2c.reports.fbar import fbar
from q2c.reports.model import Column, Report, Section
from q2c.reports.money import format_amount, minor_to_major
from q2c.reports.period import Period
from q2c.reports.reader import WarehouseLike, WarehouseReader

#: months of break history the trend chart shows, ending with the period
TREND_MONTHS = 12
REPORTS = MaskContext(channel="reports")


def build_report(
    warehouse: WarehouseLike,
    contract: Contract,
    period: Period,
    *,
    run_id: str,
    generated_at: datetime | None = None,
) -> Report:
    """Read the period's report from a built warehouse (dbt marts and `rec_*` tables).

    Args:
        warehouse: a `q2c.warehouse.Warehouse` (DuckDB or PostgreSQL), read only.
        contract: the ownership contract (company, chart of accounts, reporting, gates).
        period: the month to report.
        run_id: the run that produced the report (the Dagster run id, or a CLI run id).
        generated_at: when (UTC); now by default.

    Raises:
        ValueError: the warehouse was never built (no `reconciliation.rec_breaks`).
    """
    reader = WarehouseReader(warehouse)
    if not reader.columns("reconciliation", "rec_breaks"):
        raise ValueError(
            "the warehouse has no reconciliation.rec_breaks: run the pipeline (q2c run) or "
            "dbt build before reporting"
        )
    balances = sections.balance_activity(reader, period)
    built = [
        sections.balance_summary(balances),
        sections.identities(reader, period, balances),
        sections.tie_outs(reader, period, contract, balances),
        sections.matching(reader, period, contract),
        sections.breaks_by_kind(reader, period),
        sections.match_methods(reader, period),
        sections.verdict(reader),
        sections.open_items(reader, period, contract),
        break_trend(reader, period),
        operations.dq_findings(reader, period),
        operations.compliance_holds(reader, period, contract),
        fbar(reader, period, contract),
        operations.export_batches(reader, period),
        operations.gate_decisions(reader, period),
        operations.review_queue(reader),
    ]
    for section in built:
        mask_section(section)
    by_key = {s.key: s for s in built}
    header = _header(reader, contract, period, run_id, generated_at, by_key["verdict"])
    return Report(header, built, charts.build_charts(by_key))


def closed_period(warehouse: WarehouseLike) -> Period:
    """The last whole month before the warehouse's as-of time (as of 2026-11-01 -> 2026-10).

    Raises:
        ValueError: the warehouse has no as-of time (never built).
    """
    reader = WarehouseReader(warehouse)
    if not reader.has("intermediate", "int_warehouse__as_of", "as_of_at"):
        raise ValueError("the warehouse has no intermediate.int_warehouse__as_of: build it first")
    rows = reader.rows("select as_of_at from intermediate.int_warehouse__as_of", ["as_of_at"])
    if not rows or rows[0]["as_of_at"] is None:
        raise ValueError("the warehouse holds no data yet (no as-of time)")
    as_of = rows[0]["as_of_at"]
    index = as_of.year * 12 + as_of.month - 1 - 1
    return Period(index // 12, index % 12 + 1)


def break_trend(reader: WarehouseReader, period: Period) -> Section:
    """Open breaks per month of origin and kind, the period and the months before it."""
    index = period.year * 12 + period.month - 1 - (TREND_MONTHS - 1)
    first = Period(index // 12, index % 12 + 1)
    columns = [
        Column("period_month", "Month", "datetime"),
        Column("break_kind", "Kind"),
        Column("breaks", "Breaks", "int"),
    ]
    rows = reader.rows(
        "select period_month, break_kind, cast(sum(break_count) as bigint)"
        " from reconciliation.rec_summary where period_month >= ? and period_month < ?"
        " group by period_month, break_kind",
        [c.key for c in columns],
        [first.start.date(), period.end.date()],
        order=["period_month", "break_kind"],
    )
    return Section(
        "break_trend",
        "Open breaks by month of origin",
        f"Open breaks per month they originated in, the {TREND_MONTHS} months up to the period "
        "(rec_summary).",
        columns,
        rows,
        "ok" if rows else "none",
        "" if rows else "no open break in these months",
        ("reconciliation.rec_summary",),
    )


def mask_section(section: Section) -> None:
    """Scrub every text cell for the `reports` channel (emails, phones, bank accounts, VAT
    numbers and TINs the contract does not allow in reports), in place."""
    if section.q2c_text:
        return
    for row in section.rows:
        for key, value in row.items():
            if isinstance(value, str):
                row[key] = mask_text(value, REPORTS)


def _header(
    reader: WarehouseReader,
    contract: Contract,
    period: Period,
    run_id: str,
    generated_at: datetime | None,
    verdict: Section,
) -> dict[str, Any]:
    reporting = contract.reporting
    as_of = (
        reader.rows("select as_of_at from intermediate.int_warehouse__as_of", ["as_of_at"])
        if reader.has("intermediate", "int_warehouse__as_of", "as_of_at")
        else []
    )
    phases: dict[str, bool] = {}
    for r in verdict.rows:
        phases[r["phase"]] = bool(r["is_phase_clean"])
    materiality = (
        "; ".join(
            f"{format_amount(minor_to_major(v, c), c)} {c.upper()}"
            for c, v in sorted(reporting.materiality_minor.items())
        )
        if reporting
        else "not set in the contract"
    )
    return {
        "entity": contract.company,
        "period": str(period),
        "period_start": period.start.date(),
        "period_end": period.end.date(),
        "reporting_currency": reporting.currency.upper() if reporting else "not set",
        "currency_note": "amounts are shown in their own currency; nothing is converted",
        "generated_at": (generated_at or datetime.now(UTC)).replace(microsecond=0),
        "run_id": run_id,
        "data_as_of": as_of[0]["as_of_at"] if as_of else None,
        "warehouse": reader.dialect,
        "materiality": materiality,
        "preparer": _person(contract, reporting.preparer if reporting else None),
        "reviewer": _person(contract, reporting.reviewer if reporting else None),
        "verdict": ", ".join(
            f"{phase}: {'clean' if clean else 'not clean'}" for phase, clean in phases.items()
        )
        or "no thresholds",
    }


def _person(contract: Contract, key: str | None) -> str:
    if key is None:
        return ""
    if key not in contract.stakeholders:
        raise ValueError(
            f"reporting names stakeholder {key!r}, not in the contract's stakeholders "
            f"({', '.join(contract.stakeholders)})"
        )
    person = contract.stakeholders[key]
    return f"{person.name} ({person.role})"
