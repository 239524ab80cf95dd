"""Red flags -> review items (`ops.review_items`) -> a person's decision.

Contract:
- `detect_red_flags(warehouse, contract)` reads the built warehouse and returns every red flag
  with its approval packet (ids, amounts, timestamps, the values on each side; text masked for
  the contract's `reports` channel).
- `open_items(warehouse, flags, run_id)` inserts one item per flag not already in the table
  (the item id is the flag kind and its subject: reruns never duplicate, and a resolved item
  stays resolved).
- `held_subjects(warehouse, flow)`: the subjects an automation of `flow` must leave alone
  (open items); `resolve(...)` records who decided what, and when.
- The DDL is create-if-not-exists and the same for DuckDB and PostgreSQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from q2c.masking import MaskContext, mask_record
from q2c.policy.model import Contract
from q2c.reports.money import minor_to_major
from q2c.warehouse import Warehouse

FLAGS = (
    "break_above_materiality",
    "credit_notes_exceed_invoice",
    "crm_owned_field_changed_without_source_event",
    "repeated_idempotency_collisions",
)
#: a write whose idempotency key was found already done this many times in the audit trail
#: (the same operation proposed again and again: a loop, or a source replaying an event)
COLLISIONS_FLAG_AT = 3
Decision = Literal["approve", "reject"]
#: the CRM Account snapshot's columns for the fields q2c owns (the write set's targets)
CRM_OWNED_COLUMNS = (
    "crm_mrr",
    "crm_arr",
    "crm_billing_status",
    "crm_last_payment_date",
    "crm_payout_hold_reason",
)
#: the flow whose automation a break's other side feeds
FLOW_OF_SYSTEM = {"erp": "erp_export", "crm": "crm_account_sync", "support": "crm_case_sync"}
_DDL = (
    "create table if not exists ops.review_items ("
    "review_id text not null primary key, flag text not null, flow text not null, "
    "subject_type text not null, subject_id text not null, packet text not null, "
    "status text not null, opened_at timestamptz not null, run_id text not null, "
    "resolved_by text, resolved_at timestamptz, decision text, note text)"
)
_COLUMNS = (
    "review_id",
    "flag",
    "flow",
    "subject_type",
    "subject_id",
    "packet",
    "status",
    "opened_at",
    "run_id",
    "resolved_by",
    "resolved_at",
    "decision",
    "note",
)


@dataclass(frozen=True)
class RedFlag:
    flag: str
    #: the flow whose automation must leave the subject alone while the item is open
    flow: str
    #: what the flow would touch (a billing object id, a CRM Account id)
    subject_type: str
    subject_id: str
    packet: dict[str, Any]
    #: what makes this flag unique (the break id; the subject by default)
    key: str = ""

    @property
    def review_id(self) -> str:
        return f"{self.flag}:{self.key or self.subject_id}"


@dataclass(frozen=True)
class ReviewItem:
    review_id: str
    flag: str
    flow: str
    subject_type: str
    subject_id: str
    packet: dict[str, Any]
    status: str
    opened_at: datetime
    run_id: str
    resolved_by: str | None
    resolved_at: datetime | None
    decision: str | None
    note: str | None


def ensure_table(wh: Warehouse) -> None:
    if "ops.review_items" in wh.prepared:
        return
    wh.ensure_schema("ops")
    wh.execute(_DDL)
    wh.prepared.add("ops.review_items")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _packet(names: tuple[str, ...], row: tuple[Any, ...]) -> dict[str, Any]:
    packet = {n: _plain(v) for n, v in zip(names, row, strict=True)}
    return mask_record(packet, MaskContext("reports"))


def detect_red_flags(wh: Warehouse, contract: Contract) -> list[RedFlag]:
    """Every red flag the warehouse shows now (see the package docstring)."""
    flags: list[RedFlag] = []
    materiality = contract.reporting.materiality_minor if contract.reporting else {}
    names = (
        "break_id",
        "break_kind",
        "reconciliation",
        "source_system",
        "source_object_type",
        "source_object_id",
        "target_system",
        "target_object_id",
        "source_amount",
        "target_amount",
        "difference_amount",
        "currency",
        "occurred_at",
        "detail",
    )
    for row in wh.fetchall(
        f"select {', '.join(names)} from reconciliation.rec_breaks"
        " where difference_amount is not null and currency is not null"
    ):
        r = dict(zip(names, row, strict=True))
        limit = materiality.get(r["currency"])
        if limit is not None and abs(r["difference_amount"]) > minor_to_major(limit, r["currency"]):
            flow = FLOW_OF_SYSTEM.get(r["target_system"] or "", "automations")
            flags.append(
                RedFlag(
                    "break_above_materiality",
                    flow,
                    r["source_object_type"],
                    r["source_object_id"],
                    _packet(names, row),
                    key=r["break_id"],
                )
            )
    cn = (
        "invoice_id",
        "currency",
        "invoice_total_minor",
        "credited_minor",
        "credit_notes",
        "last_credit_note_at",
    )
    for row in wh.fetchall(
        "select invoices.invoice_id, invoices.currency, max(invoices.total_amount),"
        " sum(notes.total_amount), count(*), max(notes.created_at)"
        " from staging.stg_billing__credit_notes as notes"
        " inner join marts.fct_invoices as invoices on invoices.invoice_id = notes.invoice_id"
        " where notes.credit_note_status <> 'void' and not notes.is_deleted"
        " group by invoices.invoice_id, invoices.currency"
        " having sum(notes.total_amount) > max(invoices.total_amount)"
    ):
        flag, packet = "credit_notes_exceed_invoice", _packet(cn, row)
        flags.append(RedFlag(flag, "erp_export", "invoice", row[0], packet))
    flags += _crm_edits(wh)
    flags += _collisions(wh)
    return flags


def _collisions(wh: Warehouse) -> list[RedFlag]:
    """Operations whose idempotency key collided (`skipped_duplicate`) COLLISIONS_FLAG_AT times
    or more: the automation of that flow leaves the record alone until someone looks."""
    if not wh.table_exists("ops", "audit_trail"):
        return []
    names = ("flow", "idempotency_key", "target_object", "record", "collisions", "first_at",
             "last_at", "source_ref")  # fmt: skip
    rows = wh.fetchall(
        "select flow, idempotency_key, max(target_object), coalesce(max(target_id),"
        " max(match_value)), count(*), min(recorded_at), max(recorded_at), max(source_ref)"
        " from ops.audit_trail where action = 'skipped_duplicate' and flow is not null"
        " group by flow, idempotency_key having count(*) >= ?",
        [COLLISIONS_FLAG_AT],
    )
    return [
        RedFlag(
            "repeated_idempotency_collisions",
            row[0],
            str(row[2] or "record"),
            str(row[3]),
            _packet(names, row),
            key=row[1],
        )  # fmt: skip
        for row in rows
    ]


def _crm_edits(wh: Warehouse) -> list[RedFlag]:
    """Account versions whose q2c-owned fields changed, saved by someone else than the
    integration user (`stg_salesforce__users.is_integration_user`, from the contract's
    `rules.integration_username`)."""
    if not wh.table_exists("snapshots", "snap_crm_account_states"):
        return []
    changed = " or ".join(
        f"coalesce(cast({c} as varchar), '') <> coalesce(cast(previous_{c} as varchar), '')"
        for c in CRM_OWNED_COLUMNS
    )
    lags = ", ".join(
        f"lag({c}) over (partition by account_id order by dbt_valid_from) as previous_{c}"
        for c in CRM_OWNED_COLUMNS
    )
    names = ("account_id", "last_modified_by_id", "last_modified_at", *CRM_OWNED_COLUMNS)
    rows = wh.fetchall(
        f"with versions as (select account_id, last_modified_by_id, last_modified_at,"
        f" {', '.join(CRM_OWNED_COLUMNS)}, {lags},"
        " row_number() over (partition by account_id order by dbt_valid_from) as version"
        " from snapshots.snap_crm_account_states)"
        f" select {', '.join(names)} from versions"
        f" where version > 1 and ({changed}) and last_modified_by_id not in"
        " (select user_id from staging.stg_salesforce__users where is_integration_user)",
    )
    return [
        RedFlag(
            "crm_owned_field_changed_without_source_event",
            "crm_account_sync",
            "account",
            row[0],
            _packet(names, row),
            key=f"{row[0]}@{_plain(row[2])}",
        )
        for row in rows
    ]


def open_items(wh: Warehouse, flags: list[RedFlag], run_id: str) -> int:
    """Open one item per new flag; return how many were opened."""
    ensure_table(wh)
    known = {r[0] for r in wh.fetchall("select review_id from ops.review_items")}
    new = [f for f in flags if f.review_id not in known]
    now = datetime.now(UTC)
    with wh.transaction():
        for f in new:
            wh.execute(
                "insert into ops.review_items (review_id, flag, flow, subject_type, subject_id,"
                " packet, status, opened_at, run_id) values (?, ?, ?, ?, ?, ?, 'open', ?, ?)",
                [
                    f.review_id,
                    f.flag,
                    f.flow,
                    f.subject_type,
                    f.subject_id,
                    json.dumps(f.packet, sort_keys=True, default=str),
                    now,
                    run_id,
                ],
            )
    return len(new)


def list_items(wh: Warehouse, *, status: str | None = "open") -> list[ReviewItem]:
    ensure_table(wh)
    where, params = (" where status = ?", [status]) if status else ("", [])
    rows = wh.fetchall(f"select {', '.join(_COLUMNS)} from ops.review_items{where}", params)
    items = [
        ReviewItem(**{**dict(zip(_COLUMNS, r, strict=True)), "packet": json.loads(r[5])})
        for r in rows
    ]
    return sorted(items, key=lambda i: (i.opened_at, i.review_id))


def held_subjects(wh: Warehouse, flow: str) -> set[str]:
    """Subjects an automation of `flow` must not touch: those of its open review items."""
    ensure_table(wh)
    return {
        r[0]
        for r in wh.fetchall(
            "select subject_id from ops.review_items where flow = ? and status = 'open'", [flow]
        )
    }


def resolve(
    wh: Warehouse, review_id: str, *, decision: Decision, by: str, note: str | None = None
) -> ReviewItem:
    """Record a person's decision on an open item (who, when, what); the hold ends.

    Raises:
        ValueError: no such item, it is already resolved, or an unknown decision.
    """
    if decision not in ("approve", "reject"):
        raise ValueError(f"decision must be approve or reject, not {decision!r}")
    if not by.strip():
        raise ValueError("say who decides (--by)")
    ensure_table(wh)
    row = wh.fetchone("select status from ops.review_items where review_id = ?", [review_id])
    if row is None:
        raise ValueError(f"no review item {review_id!r}")
    if row[0] != "open":
        raise ValueError(f"review item {review_id!r} is already {row[0]}")
    wh.execute(
        "update ops.review_items set status = 'resolved', resolved_by = ?, resolved_at = ?,"
        " decision = ?, note = ? where review_id = ? and status = 'open'",
        [by.strip(), datetime.now(UTC), decision, note, review_id],
    )
    (item,) = [i for i in list_items(wh, status=None) if i.review_id == review_id]
    return item
