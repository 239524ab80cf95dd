"""`trace(wh, any_id)`: the chain of one billing, CRM or ERP id across systems.

From the id, the audit trail's rows that name it give the related ids (a billing customer's
Account Id, the other way round, the ids inside source references), one step out; then it
collects, oldest first: the raw versions landed for any of them (`raw.*`: source, version
reference, when, run), every audit event (landed, written, conflict lost, held, dead-lettered,
redriven...), the outbox rows, the dead letters and the ERP export ledger's rows (an invoice's
journal entry: its external id carries the billing id; the ERP transaction id). The last
written `after` is the final state q2c put in the target.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from q2c.audit.trail import events_for
from q2c.warehouse import Warehouse, quote_identifier

_IDS_IN_REF = re.compile(r"[A-Za-z]{2,4}_[A-Za-z0-9]{6,}|\b[a-zA-Z0-9]{18}\b")


@dataclass
class TraceReport:
    query: str
    ids: list[str]
    landed: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    exported: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=str))

    @property
    def found(self) -> bool:
        return bool(self.landed or self.audit or self.outbox or self.dead_letters or self.exported)


def _related(events: list[dict[str, Any]]) -> set[str]:
    ids: set[str] = set()
    for e in events:
        for col in ("object_id", "target_id", "match_value"):
            if e.get(col):
                ids.add(str(e[col]))
        ids |= set(_IDS_IN_REF.findall(e.get("source_ref") or ""))
    return ids


def _landed(wh: Warehouse, ids: list[str]) -> list[dict[str, Any]]:
    tables = wh.fetchall(
        "select table_name from information_schema.tables where table_schema = 'raw'"
        " order by table_name"
    )
    marks = ", ".join("?" for _ in ids)
    out = []
    for (table,) in tables:
        name = quote_identifier(str(table))
        rows = wh.fetchall(
            f"select object_id, provider_ref, is_deleted, extracted_at, run_id from raw.{name}"
            f" where object_id in ({marks}) order by extracted_at",
            ids,
        )
        for object_id, ref, deleted, at, run_id in rows:
            out.append({"table": f"raw.{name}", "object_id": object_id, "provider_ref": ref,
                        "is_deleted": deleted, "extracted_at": at, "run_id": run_id})  # fmt: skip
    return out


def _select(wh: Warehouse, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    # `Warehouse.fetchall` drops the column names; both drivers' cursors carry them
    cur = wh.connection.execute(sql.replace("?", "%s") if wh.is_postgres else sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _ops(wh: Warehouse, table: str, ids: list[str]) -> list[dict[str, Any]]:
    if not wh.table_exists("ops", table):
        return []
    marks = ", ".join("?" for _ in ids)
    return _select(
        wh,
        f"select * from ops.{quote_identifier(table)} where match_value in ({marks})"
        f" or record_id in ({marks}) order by 1",
        [*ids, *ids],
    )


def _exported(wh: Warehouse, ids: list[str]) -> list[dict[str, Any]]:
    """ERP export ledger rows whose external id carries one of `ids` (`q2c-invoice-in_...`) or
    whose ERP transaction id is one of them."""
    if not wh.table_exists("ops", "export_ledger"):
        return []
    likes = " or ".join("external_id like ?" for _ in ids)
    marks = ", ".join("?" for _ in ids)
    return _select(
        wh,
        f"select * from ops.export_ledger where {likes} or erp_transaction_id in ({marks})"
        " order by recorded_at",
        [*(f"%{i}%" for i in ids), *ids],
    )


def trace(wh: Warehouse, any_id: str) -> TraceReport:
    """Everything q2c knows about `any_id` and the ids linked to it (see the module docstring)."""
    first = events_for(wh, [any_id])
    ids = sorted({any_id} | _related(first))
    events = events_for(wh, ids) if len(ids) > 1 else first
    return TraceReport(
        query=any_id,
        ids=ids,
        landed=_landed(wh, ids),
        audit=events,
        outbox=_ops(wh, "outbox", ids),
        dead_letters=_ops(wh, "dead_letters", ids),
        exported=_exported(wh, ids),
    )
