"""Sections on what the pipeline did and decided: data-quality findings, compliance holds,
ERP export batches and gate decisions. Other parts of q2c write these tables at run time
(q2c/gates, q2c/exports, the dbt findings); a table that is not there is reported as such.

Export batches are those of the period's days; gate decisions are those recorded since the
period began (runs happen after the period they close: the close of 2026-10 runs in November).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from q2c.policy.model import Contract
from q2c.reports.model import Column, Section
from q2c.reports.period import Period
from q2c.reports.reader import WarehouseReader
from q2c.reports.sections import REC_BREAKS, table_section

#: compliance break kind -> the contract's compliance check it reports on
HOLD_CHECKS = {"payout_to_unverified_account": "kyc", "invalid_eu_vat": "vat"}


def dq_findings(reader: WarehouseReader, period: Period) -> Section:
    description = (
        "Input checks that warn (dbt tests on raw, staging and marts): they never stop the "
        "reconciliation and are listed here for the source's owner."
    )
    if reader.columns("reconciliation", "dq_findings"):
        return table_section(
            reader,
            "dq_findings",
            "Data-quality findings",
            description,
            "reconciliation",
            "dq_findings",
            time_column=None,
            period=period,
        )
    section = Section(
        "dq_findings", "Data-quality findings", description, [], sources=(REC_BREAKS,)
    )
    section.status = "unavailable"
    section.note = "no reconciliation.dq_findings table"
    return section


def compliance_holds(reader: WarehouseReader, period: Period, contract: Contract) -> Section:
    description = (
        "What compliance holds (the contract's compliance gates): the reason, since when, "
        "the status that caused it and the next step."
    )
    if reader.columns("reconciliation", "compliance_holds"):
        return table_section(
            reader,
            "compliance_holds",
            "Compliance holds",
            description,
            "reconciliation",
            "compliance_holds",
            time_column=None,
            period=period,
        )
    rows: list[dict[str, Any]] = []
    kinds = "', '".join(HOLD_CHECKS)
    for r in reader.rows(
        "select break_kind, entity, source_object_id, target_object_id, source_amount,"
        f" currency, occurred_at, detail from {REC_BREAKS}"
        f" where break_kind in ('{kinds}') and occurred_at < ?",
        [
            "break_kind",
            "subject",
            "subject_id",
            "payout_id",
            "amount",
            "currency",
            "since",
            "status",
        ],
        [period.end],
        order=["since", "subject_id", "payout_id"],
    ):
        r["gate"], r["next_step"] = _gate(contract, HOLD_CHECKS[r.pop("break_kind")])
        rows.append(r)
    sources = [REC_BREAKS]
    if reader.has("intermediate", "int_customers__payout_holds", "is_payout_held"):
        sources.append("intermediate.int_customers__payout_holds")
        gate, step = _gate(contract, "kyc")
        for r in reader.rows(
            "select connected_account_id, payout_hold_reason"
            " from intermediate.int_customers__payout_holds where is_payout_held",
            ["subject_id", "status"],
            order=["subject_id"],
        ):
            rows.append(
                {
                    "subject": "connected_account",
                    "subject_id": r["subject_id"],
                    "payout_id": None,
                    "amount": None,
                    "currency": None,
                    "since": None,
                    "status": f"payouts held: {r['status']}",
                    "gate": gate,
                    "next_step": step,
                }
            )
    return Section(
        "compliance_holds",
        "Compliance holds",
        description + " Since: when the held money moved or the customer was created; "
        "blank where the billing platform does not say.",
        [
            Column("subject", "Subject"),
            Column("subject_id", "Id"),
            Column("gate", "Gate"),
            Column("status", "Status and reason"),
            Column("since", "Since", "datetime"),
            Column("payout_id", "Payout"),
            Column("amount", "Amount", "money"),
            Column("currency", "Currency"),
            Column("next_step", "Next step"),
        ],
        rows,
        "ok" if rows else "none",
        "" if rows else "no compliance hold",
        tuple(sources),
    )


def _gate(contract: Contract, check: str) -> tuple[str, str]:
    for name, gate in contract.compliance.gates.items():
        if gate.check == check:
            return name, gate.next_step
    return "-", "No gate of the contract checks this status."


def export_batches(reader: WarehouseReader, period: Period) -> Section:
    """ERP export batches of the period's days (`ops.export_batches`, written by q2c/exports):
    status, entries, the manifest's control totals per currency, and the ERP's answers
    (`ops.export_ledger`): posted, already posted, rejected with its error codes."""
    columns = [
        Column("batch_id", "Batch"),
        Column("partition_date", "Day"),
        Column("status", "Status"),
        Column("entries", "Entries", "int"),
        Column("currency", "Currency"),
        Column("debit", "Control total debit", "money"),
        Column("credit", "Control total credit", "money"),
        Column("posted", "Posted", "int"),
        Column("already_posted", "Already posted", "int"),
        Column("rejected", "Rejected", "int"),
        Column("rejection_codes", "Rejection codes"),
        Column("reasons", "Gate reasons"),
    ]
    section = Section(
        "export_batches",
        "ERP export batches",
        "Journal batches the export step cut for the period's days: the gate's status, the "
        "manifest's control totals per currency and the ERP's answer to each entry.",
        columns,
        sources=("ops.export_batches", "ops.export_ledger"),
    )
    if not reader.has("ops", "export_batches", "batch_id", "partition_date", "manifest"):
        section.status = "unavailable"
        section.note = "no ops.export_batches table"
        return section
    answers: dict[str, dict[str, Any]] = {}
    if reader.has("ops", "export_ledger", "batch_id", "status", "error_code"):
        for r in reader.rows(
            "select batch_id,"
            " cast(sum(case when status = 'posted' then 1 else 0 end) as bigint),"
            " cast(sum(case when status = 'already_posted' then 1 else 0 end) as bigint),"
            " cast(sum(case when status = 'rejected' then 1 else 0 end) as bigint),"
            " string_agg(distinct error_code, ', ')"
            " from ops.export_ledger group by batch_id",
            ["batch_id", "posted", "already_posted", "rejected", "rejection_codes"],
        ):
            answers[r["batch_id"]] = r
    for b in reader.rows(
        "select batch_id, partition_date, status, entries, reasons, manifest"
        " from ops.export_batches where partition_date >= ? and partition_date < ?"
        "",
        ["batch_id", "partition_date", "status", "entries", "reasons", "manifest"],
        [period.start.date(), period.end.date()],
        order=["partition_date", "batch_id"],
    ):
        totals = json.loads(b.pop("manifest") or "{}").get("totals_by_currency") or {"": {}}
        answer = answers.get(b["batch_id"], {})
        for currency, t in sorted(totals.items()):
            section.rows.append(
                {
                    **b,
                    "currency": currency.lower() or None,
                    "debit": Decimal(t["debit"]) if "debit" in t else None,
                    "credit": Decimal(t["credit"]) if "credit" in t else None,
                    "posted": answer.get("posted", 0),
                    "already_posted": answer.get("already_posted", 0),
                    "rejected": answer.get("rejected", 0),
                    "rejection_codes": answer.get("rejection_codes"),
                }
            )
    if not section.rows:
        section.status = "none"
        section.note = f"no export batch for a day of {period}"
    return section


def gate_decisions(reader: WarehouseReader, period: Period) -> Section:
    section = table_section(
        reader,
        "gate_decisions",
        "Gate decisions",
        "Every go/no-go of an outgoing flow's gate (q2c.gates) since the period began: "
        "passed or not, every reason, and the validation result's id.",
        "ops",
        "gate_decisions",
        time_column="decided_at",
        period=period,
        since_start=True,
    )
    # q2c.gates' reasons name checks, columns, counts and thresholds, never a row's values
    section.q2c_text = True
    return section


def review_queue(reader: WarehouseReader) -> Section:
    """Open review items (`ops.review_items`, q2c/review): what waits for a person's decision."""
    columns = [
        Column("review_id", "Item"),
        Column("flag", "Red flag"),
        Column("flow", "Flow held"),
        Column("subject_type", "Subject"),
        Column("subject_id", "Subject id"),
        Column("opened_at", "Opened", "datetime"),
        Column("status", "Status"),
    ]
    section = Section(
        "review_queue",
        "Manual review queue",
        "Red flags waiting for a person (`q2c review`): each holds its subject out of its "
        "flow's automation until resolved.",
        columns,
        sources=("ops.review_items",),
    )
    if not reader.has("ops", "review_items", "review_id", "status"):
        section.status = "unavailable"
        section.note = "no ops.review_items table"
        return section
    section.rows = reader.rows(
        f"select {', '.join(c.key for c in columns)} from ops.review_items"
        " where status = 'open'",
        [c.key for c in columns],
        order=["opened_at", "review_id"],
    )
    if not section.rows:
        section.status = "none"
        section.note = "no open review item"
    return section
