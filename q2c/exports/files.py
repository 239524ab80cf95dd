"""The paper trail of a batch: the CSV of its lines and `manifest.json`.

The CSV is the ERP import's shape (`external_id, line_external_id, trandate, posting_period,
currency, account, debit, credit, memo, entity, source_ref`; amounts exact in the currency's
decimals, the zero side empty), for people and for a manual load. Both files are rendered
deterministically from the batch's entries (ordered by external id and line), so a rerun of a
delivered day writes the same bytes; the manifest is stored with the batch and rewritten as
stored.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from q2c.exports.entries import JournalEntry

CSV_NAME = "journal_lines.csv"
MANIFEST_NAME = "manifest.json"
CSV_COLUMNS = (
    "external_id",
    "line_external_id",
    "trandate",
    "posting_period",
    "currency",
    "account",
    "debit",
    "credit",
    "memo",
    "entity",
    "source_ref",
)


def render_csv(entries: Sequence[JournalEntry]) -> bytes:
    """The batch's lines as import CSV (UTF-8, `\\n` line ends)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        for line in e.lines:
            writer.writerow(
                (
                    e.external_id,
                    line.line_external_id,
                    e.trandate.isoformat(),
                    e.posting_period or "",
                    e.currency,
                    line.account,
                    str(line.debit) if line.debit_minor else "",
                    str(line.credit) if line.credit_minor else "",
                    line.memo or "",
                    line.entity or "",
                    line.source_ref,
                )
            )
    return buf.getvalue().encode("utf-8")


def control_totals(entries: Sequence[JournalEntry]) -> dict[str, Any]:
    """Debit and credit totals per currency and net (debit - credit) per GL account/currency."""
    totals: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    net: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for e in entries:
        for line in e.lines:
            totals[e.currency]["debit"] += line.debit
            totals[e.currency]["credit"] += line.credit
            net[line.account][e.currency] += line.debit - line.credit
    return {
        "totals_by_currency": {
            c: {k: str(v) for k, v in sorted(t.items())} for c, t in sorted(totals.items())
        },
        "net_by_account": {
            a: {c: str(v) for c, v in sorted(n.items())} for a, n in sorted(net.items())
        },
    }


def billing_objects(entries: Sequence[JournalEntry]) -> dict[str, list[str]]:
    """The billing objects the batch covers, by Stripe object name (from `source_ref`)."""
    out: dict[str, set[str]] = defaultdict(set)
    for e in entries:
        for line in e.lines:
            _, obj, oid = line.source_ref.split(":", 2)
            out[obj].add(oid)
    return {k: sorted(v) for k, v in sorted(out.items())}


def build_manifest(
    *,
    batch_id: str,
    partition: str,
    entries: Sequence[JournalEntry],
    csv_bytes: bytes,
    run_id: str,
    gate: dict[str, Any] | None,
    held: dict[str, tuple[str, ...]] | None = None,
) -> str:
    """`manifest.json` text for a batch (`held`: entries the gate held out, with why)."""
    ids = [e.external_id for e in entries]
    manifest = {
        "batch_id": batch_id,
        "partition": partition,
        "file": {
            "name": CSV_NAME,
            "sha256": hashlib.sha256(csv_bytes).hexdigest(),
            "bytes": len(csv_bytes),
        },
        "entries": len(entries),
        "lines": sum(len(e.lines) for e in entries),
        "external_id_range": {"first": ids[0], "last": ids[-1]} if ids else None,
        **control_totals(entries),
        "billing_objects": billing_objects(entries),
        "run_id": run_id,
        "gate": gate,
        "held": {
            "entries": len(held or {}),
            "by_entry": {k: list(v) for k, v in sorted((held or {}).items())},
        },
    }
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n"


def write_files(out_dir: Path, csv_bytes: bytes, manifest: str) -> tuple[Path, Path]:
    """Write both files (atomically: a temp name, then rename)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = (out_dir / CSV_NAME, out_dir / MANIFEST_NAME)
    for path, data in zip(paths, (csv_bytes, manifest.encode("utf-8")), strict=True):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return paths
