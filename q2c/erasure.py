"""Erasure of one person (`q2c forget --customer <id>`): their PII redacted everywhere we hold it.

`forget_customer(wh, customer_id, report_dirs=...)`:
1. collects the person's identifiers: every string the contract's sensitivity section
   classifies (its classes' keys and listed fields, through `q2c.masking`) in any landed
   version of the billing customer `customer_id` (name, email, phone, address lines, tax ids,
   free text...), each at least 3 characters;
2. redacts them in every raw payload that holds one (a classified field's value becomes
   `[erased]`, a free-text occurrence is cut out) and recomputes `payload_hash`; ids, amounts,
   currencies, dates and statuses are not touched, so the financial facts stay;
3. the same in `ops.quarantine` (text and bytes) and in every text column of every other table
   (staging, snapshots, marts, sync, exports, reconciliation, ops...) except the audit trail,
   which is masked when written and so holds no value of the person;
4. the same in the report files under `report_dirs` (HTML, JSON, CSV, text; XLSX parts);
5. appends an `erased` event to `ops.audit_trail` (the customer id and counts, no values);
6. scans everything again: `ErasureResult.remaining` lists where an identifier is still found
   (empty when the erasure is complete). A rerun finds no identifier left and changes nothing.
Limits: the person is the billing customer; CRM contacts of their account with other names are
not found by it (their values are not the customer's), and a report format other than text,
HTML, JSON, CSV or a zip of those (XLSX) is not rewritten.
The identifiers themselves are never returned, printed or logged: only how many there were.
"""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from q2c.audit.trail import AuditEvent, record_events
from q2c.landing import payload_hash
from q2c.masking import MaskContext, MaskingPolicy, default_policy, mask_record
from q2c.policy import default_contract
from q2c.warehouse import Warehouse
from q2c.warehouse_roles import sensitive_column_names

ERASED = "[erased]"
#: identifiers searched everywhere are at least this long (digits only: MIN_NUMBER_CHARS), so a
#: short code or number elsewhere is not taken for the person; in the person's own records every
#: classified value is erased whatever its length
MIN_IDENTIFIER_CHARS = 6
MIN_NUMBER_CHARS = 8
#: keys of classified subtrees whose values are shared by many people (kept out of the search)
#: columns of modeled tables that name the row's billing customer
OWNER_COLUMNS = frozenset({"customer_id", "billing_customer_id", "object_id", "stripe_customer_id"})
SHARED_KEYS = frozenset(
    {
        "city",
        "country",
        "state",
        "object",
        "url",
        "id",
        "currency",
        "preferred_locales",
        "type",
        "status",  # verification statuses (the contract's status_metadata) are not the person
    }
)
CUSTOMER_TABLE = "raw.billing__customer"
#: tables left as they are: the audit trail is masked when written and append-only
SKIPPED_TABLES = frozenset({"ops.audit_trail"})
TEXT_SUFFIXES = frozenset({".html", ".htm", ".json", ".csv", ".txt", ".md", ".xml"})
ZIP_SUFFIXES = frozenset({".xlsx", ".zip"})


@dataclass
class ErasureResult:
    customer_id: str
    identifiers: int = 0
    raw_rows: int = 0
    quarantine_rows: int = 0
    table_cells: int = 0
    report_files: int = 0
    remaining: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.remaining


def _changed(before: Any, after: Any, key: str, out: list[tuple[str, str]]) -> None:
    """(key, value) of every string leaf of `before` that masking changed in `after`."""
    if isinstance(before, dict):
        sub = after if isinstance(after, dict) else {}
        for k, v in before.items():
            _changed(v, sub.get(k), k, out)
    elif isinstance(before, list):
        sub = (
            after if isinstance(after, list) and len(after) == len(before) else [None] * len(before)
        )
        for v, w in zip(before, sub, strict=True):
            _changed(v, w, key, out)
    elif isinstance(before, str) and before != after:
        out.append((key, before))


def classified_leaves(
    payload: dict[str, Any], policy: MaskingPolicy, source: str = "billing", obj: str = "customer"
) -> list[tuple[str, str]]:
    """(key, value) of the payload's strings the contract classifies: the leaves that masking
    for the strictest channel (logs: no PII allowed) changes."""
    out: list[tuple[str, str]] = []
    masked = mask_record(payload, MaskContext("logs", source, obj), policy)
    _changed(payload, masked, "", out)
    return out


def _distinctive(key: str, value: str) -> bool:
    """A value that names this person wherever it appears (not a city, a locale, a code...)."""
    value = value.strip()
    if (
        value == ERASED
        or key.lower() in SHARED_KEYS
        or value.startswith("/")
        or len(value) < MIN_IDENTIFIER_CHARS
    ):
        return False
    return not (value.isdigit() and len(value) < MIN_NUMBER_CHARS)


def person_identifiers(payloads: Iterable[dict[str, Any]], policy: MaskingPolicy) -> set[str]:
    """The distinctive classified strings of the person's payloads (searched everywhere)."""
    return {
        value.strip()
        for payload in payloads
        for key, value in classified_leaves(payload, policy)
        if _distinctive(key, value)
    }


class _Redactor:
    def __init__(self, identifiers: set[str]) -> None:
        self.exact = {v.casefold() for v in identifiers}
        # longest first so a name inside an address line goes with the line
        ordered = sorted(identifiers, key=len, reverse=True)
        self.pattern = re.compile("|".join(re.escape(v) for v in ordered), re.IGNORECASE)

    def text(self, value: str) -> str:
        if value.strip().casefold() in self.exact:
            return ERASED
        return self.pattern.sub(ERASED, value)

    def tree(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.tree(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.tree(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def found(self, text: str) -> bool:
        return bool(self.pattern.search(text))


def _as_text(wh: Warehouse, column: str) -> str:
    return f"cast({column} as text)" if wh.dialect == "postgres" else f"cast({column} as varchar)"


def _tables(wh: Warehouse) -> list[tuple[str, str, str, str]]:
    """(schema, table, column, data type) of every text-like column of every base table."""
    rows = wh.fetchall(
        "select c.table_schema, c.table_name, c.column_name, lower(c.data_type)"
        " from information_schema.columns c join information_schema.tables t"
        " on t.table_schema = c.table_schema and t.table_name = c.table_name"
        " where t.table_type = 'BASE TABLE'"
        " and c.table_schema not in ('information_schema', 'pg_catalog', 'main')"
        " order by 1, 2, c.ordinal_position"
    )
    return [
        (s, t, c, d)
        for s, t, c, d in rows
        if any(k in d for k in ("char", "text", "json", "blob", "bytea"))
        and f"{s}.{t}" not in SKIPPED_TABLES
    ]


def _like_any(wh: Warehouse, column: str, identifiers: Sequence[str]) -> tuple[str, list[str]]:
    expr = f"lower({_as_text(wh, column)})"
    return " or ".join(f"{expr} like ?" for _ in identifiers), [
        f"%{v.lower()}%" for v in identifiers
    ]


def _erase_classified(value: Any, classified: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: _erase_classified(v, classified) for k, v in value.items()}
    if isinstance(value, list):
        return [_erase_classified(v, classified) for v in value]
    if isinstance(value, str) and value in classified:
        return ERASED
    return value


def _redact_raw(
    wh: Warehouse,
    redactor: _Redactor,
    identifiers: Sequence[str],
    customer_id: str,
    policy: MaskingPolicy,
) -> int:
    """Raw payloads: the person's own records (those naming `customer_id`) lose every value the
    contract classifies for their system and object; any payload loses the identifiers."""
    changed = 0
    tables = sorted({(s, t) for s, t, c, _ in _tables(wh) if s == "raw" and c == "payload"})
    for schema, table in tables:
        source, _, obj = table.partition("__")
        cond, params = _like_any(wh, "payload", [*identifiers, customer_id])
        rows = wh.fetchall(
            f"select {_as_text(wh, 'payload')}, payload_hash from {schema}.{table} where {cond}",
            params,
        )
        for text, old_hash in rows:
            payload = json.loads(text)
            if customer_id in text:
                found = classified_leaves(payload, policy, source, obj)
                payload = _erase_classified(payload, {v for _, v in found})
            new = redactor.tree(payload)
            if new == json.loads(text):
                continue
            wh.execute(
                f"update {schema}.{table} set payload = ?, payload_hash = ? where payload_hash = ?",
                [json.dumps(new, ensure_ascii=False), payload_hash(new), old_hash],
            )
            changed += 1
    return changed


def _redact_quarantine(wh: Warehouse, redactor: _Redactor, identifiers: Sequence[str]) -> int:
    if not any(s == "ops" and t == "quarantine" for s, t, _, _ in _tables(wh)):
        return 0
    cond, params = _like_any(wh, "raw", identifiers)
    rows = wh.fetchall(f"select raw from ops.quarantine where {cond}", params)
    for (text,) in set(rows):
        new = redactor.text(text)
        wh.execute(
            "update ops.quarantine set raw = ?, raw_bytes = ? where raw = ?",
            [new, new.encode("utf-8"), text],
        )
    return len(rows)


def _redact_cells(wh: Warehouse, redactor: _Redactor, identifiers: Sequence[str]) -> int:
    changed = 0
    for schema, table, column, dtype in _tables(wh):
        if schema == "raw" or (schema, table) == ("ops", "quarantine"):
            continue
        if "blob" in dtype or "bytea" in dtype:
            continue
        col = f'"{column}"'
        cond, params = _like_any(wh, col, identifiers)
        values = wh.fetchall(
            f"select distinct {_as_text(wh, col)} from {schema}.{table} where {cond}", params
        )
        for (text,) in values:
            new = redactor.text(text)
            if "json" in dtype:
                new = json.dumps(redactor.tree(json.loads(text)), ensure_ascii=False)
            changed += max(
                wh.execute(
                    f"update {schema}.{table} set {col} = ? where {_as_text(wh, col)} = ?",
                    [new, text],
                ),
                1,
            )
    return changed


def _redact_own_rows(wh: Warehouse, customer_id: str, sensitive: frozenset[str]) -> int:
    """Modeled tables: in the person's rows (an id column holds `customer_id`), every text
    column named by the contract's sensitivity classes (postal code, city...) is erased."""
    by_table: dict[tuple[str, str], list[str]] = {}
    for schema, table, column, dtype in _tables(wh):
        if schema != "raw" and "blob" not in dtype and "bytea" not in dtype:
            by_table.setdefault((schema, table), []).append(column)
    changed = 0
    for (schema, table), columns in by_table.items():
        ids = [c for c in columns if c.lower() in OWNER_COLUMNS]
        erase = [c for c in columns if c.lower() in sensitive and c.lower() not in OWNER_COLUMNS]
        if not ids or not erase:
            continue
        sets = ", ".join(f'"{c}" = ?' for c in erase)
        where = " or ".join(f'"{c}" = ?' for c in ids)
        changed += max(
            wh.execute(
                f"update {schema}.{table} set {sets} where {where}",
                [ERASED] * len(erase) + [customer_id] * len(ids),
            ),
            0,
        )
    return changed


def _redact_file(path: Path, redactor: _Redactor) -> bool:
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        text = path.read_text(encoding="utf-8", errors="replace")
        new = redactor.pattern.sub(ERASED, text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            return True
    elif suffix in ZIP_SUFFIXES and zipfile.is_zipfile(path):
        buffer = io.BytesIO()
        touched = False
        with (
            zipfile.ZipFile(path) as src,
            zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as dst,
        ):
            for info in src.infolist():
                data = src.read(info)
                if info.filename.endswith((".xml", ".json", ".csv", ".txt", ".html")):
                    text = data.decode("utf-8", errors="replace")
                    new = redactor.pattern.sub(ERASED, text)
                    if new != text:
                        data, touched = new.encode("utf-8"), True
                dst.writestr(info, data)
        if touched:
            path.write_bytes(buffer.getvalue())
        return touched
    return False


def _markup_forms(value: str) -> set[str]:
    """A value as HTML/XML/JSON may spell it (escaped quotes and ampersands)."""
    forms = {value}
    forms.add(value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
    forms.add(value.replace("&", "&amp;").replace("'", "&#x27;").replace('"', "&quot;"))
    forms.add(value.replace("&", "&amp;").replace("'", "&#39;").replace('"', "&quot;"))
    forms.add(value.replace("&", "&amp;").replace("'", "&apos;").replace('"', "&quot;"))
    forms.add(json.dumps(value, ensure_ascii=True)[1:-1])
    return forms


def _report_files(report_dirs: Sequence[Path]) -> list[Path]:
    suffixes = TEXT_SUFFIXES | ZIP_SUFFIXES
    return [
        f
        for d in report_dirs
        if d.is_dir()
        for f in sorted(d.rglob("*"))
        if f.is_file() and f.suffix.lower() in suffixes
    ]


def scan(wh: Warehouse, identifiers: Sequence[str], report_dirs: Sequence[Path] = ()) -> list[str]:
    """Where any of `identifiers` is still found: `schema.table.column` and report paths."""
    if not identifiers:
        return []
    redactor = _Redactor(_with_markup_forms(identifiers))
    found: list[str] = []
    for schema, table, column, _ in _tables(wh):
        cond, params = _like_any(wh, f'"{column}"', identifiers)
        if wh.fetchone(f"select 1 from {schema}.{table} where {cond} limit 1", params):
            found.append(f"{schema}.{table}.{column}")
    for path in _report_files(report_dirs):
        if path.suffix.lower() in ZIP_SUFFIXES and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                texts = [z.read(i).decode("utf-8", errors="replace") for i in z.infolist()]
        else:
            texts = [path.read_text(encoding="utf-8", errors="replace")]
        if any(redactor.found(t) for t in texts):
            found.append(str(path))
    return found


def _with_markup_forms(identifiers: Iterable[str]) -> set[str]:
    return {form for v in identifiers for form in _markup_forms(v)}


def customer_identifiers(
    wh: Warehouse, customer_id: str, policy: MaskingPolicy | None = None
) -> set[str]:
    """The person's identifiers from every landed version of the billing customer."""
    policy = policy or default_policy()
    rows = wh.fetchall(
        f"select {_as_text(wh, 'payload')} from {CUSTOMER_TABLE} where object_id = ?",
        [customer_id],
    )
    found = person_identifiers((json.loads(r[0]) for r in rows), policy)
    found.discard(customer_id)
    return found


def forget_customer(
    wh: Warehouse,
    customer_id: str,
    *,
    report_dirs: Sequence[Path] = (),
    actor: str = "q2c forget",
    run_id: str | None = None,
) -> ErasureResult:
    """Redact the billing customer's PII everywhere (see the module doc); rerunnable."""
    result = ErasureResult(customer_id)
    policy = default_policy()
    contract = default_contract()
    if not wh.fetchone(f"select 1 from {CUSTOMER_TABLE} where object_id = ?", [customer_id]):
        raise LookupError(f"no landed billing customer {customer_id!r}")
    identifiers = sorted(customer_identifiers(wh, customer_id, policy))
    result.identifiers = len(identifiers)
    if not identifiers:  # erased before: nothing of the person left to find
        return result
    redactor = _Redactor(_with_markup_forms(identifiers))
    with wh.transaction():
        result.raw_rows = _redact_raw(wh, redactor, identifiers, customer_id, policy)
        result.quarantine_rows = _redact_quarantine(wh, redactor, identifiers)
        result.table_cells = _redact_cells(wh, redactor, identifiers)
        result.table_cells += _redact_own_rows(wh, customer_id, sensitive_column_names(contract))
    result.report_files = sum(_redact_file(p, redactor) for p in _report_files(report_dirs))
    result.remaining = scan(wh, identifiers, report_dirs)
    record_events(
        wh,
        [
            AuditEvent(
                action="erased",
                run_id=run_id or f"forget-{uuid.uuid4()}",
                actor=actor,
                result="complete" if not result.remaining else "incomplete",
                source_system="billing",
                object_type="customer",
                object_id=customer_id,
                detail=json.dumps(
                    {
                        "identifiers": result.identifiers,
                        "raw_rows": result.raw_rows,
                        "quarantine_rows": result.quarantine_rows,
                        "table_cells": result.table_cells,
                        "report_files": result.report_files,
                        "remaining": result.remaining,
                    }
                ),
            )
        ],
    )
    return result
