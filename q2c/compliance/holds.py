"""Compliance holds from the warehouse: every connected account and customer, its statuses,
and what the contract's gates hold (`reconciliation.compliance_holds`).

Contract:
- Connected accounts: KYC and KYB from the billing platform's account object (latest landed
  version of `raw.billing__account`, `connected_account_statuses`); AML from the table the
  contract names (`compliance.status_sources.aml`, one row per subject: `subject_id`,
  `status`); no source, or no row for the account, is a missing status and holds (fail-closed,
  unless the gate says `on_missing: allow`).
- Business customers of the reverse-charge countries (`rules.reverse_charge_countries`; Stripe
  `tax_exempt = reverse` or an EU VAT id; latest landed `raw.billing__customer`, so the holds
  need no dbt model and the CRM payload model can read them in the same run): VAT from the
  billing customer's EU VAT id verification (`verified` -> valid, `unverified` -> unverified,
  `unavailable` -> vies_unavailable; pending or no EU VAT id -> missing).
- `write_holds` replaces the table's rows in one transaction; a hold that was already there
  keeps its `since` (held since first seen).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from q2c.compliance.gates import connected_account_statuses, evaluate
from q2c.landing import latest_versions_sql
from q2c.policy.model import Contract
from q2c.warehouse import Warehouse, quote_identifier

TABLE = "reconciliation.compliance_holds"
#: Stripe's tax_id.verification.status -> the contract's VAT vocabulary
VAT_FROM_STRIPE = {
    "verified": "valid",
    "unverified": "unverified",
    "unavailable": "vies_unavailable",
}
_DDL = (
    f"create table if not exists {TABLE} ("
    "subject_type text not null, subject_id text not null, action text not null, "
    "gate text not null, check_name text not null, status text not null, reason text not null, "
    "next_step text not null, since timestamptz not null, recorded_at timestamptz not null, "
    "run_id text not null)"
)


@dataclass(frozen=True)
class Subject:
    subject_type: str
    subject_id: str
    statuses: dict[str, str]


@dataclass(frozen=True)
class Hold:
    subject_type: str
    subject_id: str
    action: str
    gate: str
    check: str
    status: str
    reason: str
    next_step: str


def compute_holds(contract: Contract, subjects: Iterable[Subject]) -> list[Hold]:
    """Every (subject, action) a gate of the contract holds, with the gate's reason."""
    holds = []
    for s in subjects:
        for action in contract.compliance.actions:
            for b in evaluate(contract, s.statuses, action, subject=s.subject_type).blocks:
                holds.append(
                    Hold(
                        s.subject_type,
                        s.subject_id,
                        action,
                        b.gate,
                        b.check,
                        b.status,
                        b.reason,
                        b.next_step,
                    )
                )
    return holds


def subjects_from_warehouse(wh: Warehouse, contract: Contract) -> list[Subject]:
    """Connected accounts and reverse-charge customers with their statuses (see above)."""
    aml = _aml_statuses(wh, contract)
    subjects: list[Subject] = []
    accounts = (
        wh.fetchall(
            f"select object_id, payload from ({latest_versions_sql('raw.billing__account')})"
            " as a where not is_deleted"
        )
        if wh.table_exists("raw", "billing__account")
        else []
    )
    for object_id, payload in accounts:
        account = payload if isinstance(payload, dict) else json.loads(payload)
        statuses = connected_account_statuses(account)
        if object_id in aml:
            statuses["aml"] = aml[object_id]
        subjects.append(Subject("connected_account", object_id, statuses))
    countries = {c.upper() for c in contract.rules.reverse_charge_countries}
    if not wh.table_exists("raw", "billing__customer"):
        return subjects
    for customer_id, payload in wh.fetchall(
        f"select object_id, payload from ({latest_versions_sql('raw.billing__customer')}) as c"
        " where not is_deleted"
    ):
        customer = payload if isinstance(payload, dict) else json.loads(payload)
        country = str((customer.get("address") or {}).get("country") or "").upper()
        tax_id_type, verification = deciding_tax_id(customer)
        if customer.get("deleted") or country not in countries:
            continue
        if customer.get("tax_exempt") != "reverse" and tax_id_type != "eu_vat":
            continue
        vat = VAT_FROM_STRIPE.get(verification or "") if tax_id_type == "eu_vat" else None
        subjects.append(Subject("customer", str(customer_id), {"vat": vat} if vat else {}))
    return subjects


def deciding_tax_id(customer: dict[str, Any]) -> tuple[str | None, str | None]:
    """(type, verification status) of the tax id that decides compliance, as
    `stg_billing__customers` picks it: the first unverified `eu_vat` id, else the first."""
    ids = [t for t in ((customer.get("tax_ids") or {}).get("data") or []) if isinstance(t, dict)]
    for t in ids:
        status = (t.get("verification") or {}).get("status")
        if t.get("type") == "eu_vat" and status == "unverified":
            return "eu_vat", "unverified"
    if not ids:
        return None, None
    return ids[0].get("type"), (ids[0].get("verification") or {}).get("status")


def _aml_statuses(wh: Warehouse, contract: Contract) -> dict[str, str]:
    source = contract.compliance.status_sources.get("aml")
    if source is None:
        return {}
    schema, table = (quote_identifier(p) for p in source.split(".", 1))
    if not wh.table_exists(schema, table):
        return {}
    rows = wh.fetchall(f"select subject_id, status from {schema}.{table}")
    return {str(r[0]): str(r[1]) for r in rows}


def write_holds(wh: Warehouse, holds: list[Hold], run_id: str) -> int:
    """Replace the holds table with `holds` (one transaction); return how many rows.

    A hold that was already there keeps its `since`; one whose check, status, reason and next
    step are unchanged also keeps its `recorded_at` and `run_id`, so a rerun on unchanged
    statuses leaves the table exactly as it was.
    """
    wh.ensure_schema("reconciliation")
    wh.execute(_DDL)
    now = datetime.now(UTC)
    before: dict[tuple[str, ...], tuple[Any, ...]] = {
        tuple(r[:4]): tuple(r[4:])
        for r in wh.fetchall(
            "select subject_type, subject_id, action, gate, check_name, status, reason,"
            f" next_step, since, recorded_at, run_id from {TABLE}"
        )
    }
    with wh.transaction():
        wh.execute(f"delete from {TABLE}")
        for h in holds:
            key = (h.subject_type, h.subject_id, h.action, h.gate)
            content = (h.check, h.status, h.reason, h.next_step)
            kept = before.get(key)
            since, recorded_at, row_run = (now, now, run_id) if kept is None else kept[4:]
            if kept is not None and tuple(kept[:4]) != content:
                recorded_at, row_run = now, run_id
            wh.execute(
                f"insert into {TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [*key[:2], h.action, h.gate, *content, since, recorded_at, row_run],
            )
    return len(holds)
