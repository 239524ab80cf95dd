"""Journal entries as the export sends them, the ERP's answers, and the sender interface.

- `JournalEntry` / `JournalLine`: one entry of `exports.export_erp_journal_lines` (its lines
  grouped by external id), amounts exact (`Decimal` major units built from integer minor units
  and the currency's decimals), with the ERP's internal ids of its references.
- `content_hash`: sha256 of the entry's canonical JSON (what the ERP would store); the
  `idempotency_key` is a UUID5 of the external id and that hash, so a resend of the same
  content carries the same key, and changed content (a rejected entry corrected) a new one.
- `PostResult`: the ERP's answer for one entry (`posted`, `already_posted`, `rejected` with
  the ERP's error code and detail).
- `JournalPoster`: what the engine needs from the ERP (the REST record service adapter in
  `extractors/erp/records.py` implements it; tests may pass their own).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal, Protocol

#: namespace of the entries' idempotency keys (uuid5; fixed so a key never changes)
KEY_NAMESPACE = uuid.UUID("3f0c7a52-5d1e-4d0b-9a57-6a0d1c2b7e41")

Status = Literal["posted", "already_posted", "rejected"]


def minor_to_major(minor: int, decimals: int) -> Decimal:
    """Integer minor units as exact major units with the currency's decimals."""
    return Decimal(int(minor)).scaleb(-int(decimals)).quantize(Decimal(1).scaleb(-int(decimals)))


@dataclass(frozen=True)
class JournalLine:
    """One line: account, exactly one of debit/credit (major units), memo, customer."""

    line_external_id: str
    account: str
    erp_account_id: int | None
    debit: Decimal
    credit: Decimal
    memo: str | None
    entity: str | None
    erp_entity_id: int | None
    source_ref: str
    account_role: str
    debit_minor: int
    credit_minor: int


@dataclass(frozen=True)
class JournalEntry:
    """One balanced journal entry, as sent to the ERP."""

    external_id: str
    entry_kind: str
    trandate: date
    posting_period: str | None
    currency: str
    currency_decimals: int
    erp_subsidiary_id: int | None
    erp_currency_id: int | None
    erp_period_id: int | None
    memo: str | None
    lines: tuple[JournalLine, ...]

    def as_json(self) -> dict[str, Any]:
        """Plain values (amounts as decimal text) in a fixed order."""
        out = asdict(self)
        out["trandate"] = self.trandate.isoformat()
        for line in out["lines"]:
            line["debit"], line["credit"] = str(line["debit"]), str(line["credit"])
        return out

    @property
    def content_hash(self) -> str:
        text = json.dumps(self.as_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def idempotency_key(self) -> str:
        return str(uuid.uuid5(KEY_NAMESPACE, f"{self.external_id}:{self.content_hash}"))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JournalEntry:
        """The inverse of `as_json`."""
        lines = tuple(
            JournalLine(**{**ln, "debit": Decimal(ln["debit"]), "credit": Decimal(ln["credit"])})
            for ln in data["lines"]
        )
        return cls(**{**data, "trandate": date.fromisoformat(data["trandate"]), "lines": lines})


@dataclass(frozen=True)
class PostResult:
    """The ERP's answer for one entry."""

    external_id: str
    idempotency_key: str
    status: Status
    erp_transaction_id: str | None = None
    error_code: str | None = None
    error_detail: str | None = None


class JournalPoster(Protocol):
    """What the export engine needs from the ERP."""

    def post(self, entries: Sequence[JournalEntry]) -> Iterator[PostResult]:
        """Upsert each entry by its external id; yield each answer as it arrives.

        An entry whose request kept failing (retries exhausted) yields nothing: it stays
        pending in the outbox and the next run sends it again.
        """
        ...

    def existing(self, external_ids: Sequence[str]) -> dict[str, str]:
        """The ERP's internal id of each of these journal entries it already holds."""
        ...


def _int(value: Any) -> int | None:
    return None if value is None or value != value else int(value)  # NaN-safe


def entries_from_rows(rows: Iterable[dict[str, Any]]) -> list[JournalEntry]:
    """Group `export_erp_journal_lines` rows into entries, ordered by external id.

    Amounts come from the integer minor-unit columns and `currency_decimals` (exact).
    """
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(str(row["external_id"]), []).append(row)
    entries = []
    for external_id in sorted(grouped):
        group = sorted(grouped[external_id], key=lambda r: int(r["line_number"]))
        first = group[0]
        decimals = int(first["currency_decimals"])
        lines = tuple(
            JournalLine(
                line_external_id=str(r["line_external_id"]),
                account=str(r["account"]),
                erp_account_id=_int(r.get("erp_account_id")),
                debit=minor_to_major(r["debit_minor"], decimals),
                credit=minor_to_major(r["credit_minor"], decimals),
                memo=r.get("memo"),
                entity=r.get("entity") or None,
                erp_entity_id=_int(r.get("erp_entity_id")),
                source_ref=str(r["source_ref"]),
                account_role=str(r["account_role"]),
                debit_minor=int(r["debit_minor"]),
                credit_minor=int(r["credit_minor"]),
            )
            for r in group
        )
        entries.append(
            JournalEntry(
                external_id=external_id,
                entry_kind=str(first["entry_kind"]),
                trandate=date.fromisoformat(str(first["trandate"])[:10]),
                posting_period=first.get("posting_period"),
                currency=str(first["currency"]),
                currency_decimals=decimals,
                erp_subsidiary_id=_int(first.get("erp_subsidiary_id")),
                erp_currency_id=_int(first.get("erp_currency_id")),
                erp_period_id=_int(first.get("erp_period_id")),
                memo=first.get("memo"),
                lines=lines,
            )
        )
    return entries
