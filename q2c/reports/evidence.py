"""The evidence pack finance files with the signed period report: one zip whose
`MANIFEST.json` lists every file with its SHA-256 and size (and `SHA256SUMS`, readable by
`sha256sum -c`), plus what the pack could not include and why.

Contents:
- `ownership/`: the ownership sheet (object map, Systems of Record, winner rules, exceptions);
- `report/`: the period report (HTML, XLSX, JSON);
- `exports/<day>/`: the ERP export manifests (and journal files) of the period's days;
- `gates/<run id>/`: the Great Expectations validation results and Data Docs of every gate
  decision recorded since the period began (`ops.gate_decisions`);
- `dbt/run_results.json`: the latest dbt build's results;
- `writes/audit_trail.csv`: the writes q2c made since the period began, with their audit ids
  (no before/after values: those stay in the audit trail, masked);
- `traces/<sample>.json`: `q2c.audit.trace` of one sample each (the latest): a payout the
  compliance gates held, a released payout, an exported invoice, a CRM account q2c wrote
  (landed versions, audit events, outbox, dead letters, export ledger; values as the audit
  trail keeps them, masked); a sample the warehouse has none of is listed under `missing`;
- `design/retry_and_replay.md`: the retry, dead-letter and replay design, generated from the
  contract.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from q2c.audit.trace import trace
from q2c.policy.model import Contract
from q2c.policy.sheet import render_html as sheet_html
from q2c.policy.sheet import render_markdown as sheet_markdown
from q2c.reports.model import Report
from q2c.reports.period import Period
from q2c.reports.reader import WarehouseLike, WarehouseReader
from q2c.reports.render import render_html, write_xlsx
from q2c.warehouse import Warehouse

#: audit trail columns that hold record values (masked, but kept out of the pack)
VALUE_COLUMNS = frozenset({"before_values", "after_values", "losing_values", "detail"})
_SAFE = "".join(chr(c) for c in range(128) if chr(c).isalnum()) + "_.-"


@dataclass
class EvidencePack:
    """Files to pack (path in the zip -> bytes) and what is missing (item -> reason)."""

    files: dict[str, bytes] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, data: bytes) -> None:
        if name in self.files:
            raise ValueError(f"two files for {name} in the evidence pack")
        self.files[name] = data

    def add_tree(self, prefix: str, root: Path) -> int:
        count = 0
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            self.add(f"{prefix}/{path.relative_to(root).as_posix()}", path.read_bytes())
            count += 1
        return count


def build_evidence_pack(
    warehouse: WarehouseLike,
    contract: Contract,
    report: Report,
    *,
    home: Path,
    dbt_target: Path | None,
) -> EvidencePack:
    """Collect the period's evidence (nothing is written yet).

    Args:
        warehouse: the warehouse the report was read from (gate decisions, audit trail).
        contract: the ownership contract.
        report: the period report (built for the same warehouse).
        home: q2c's state directory (`$Q2C_HOME`: `exports/`, `gates/`).
        dbt_target: where dbt wrote `run_results.json` (searched recursively; the newest wins).
    """
    period = Period.parse(report.header["period"])
    reader = WarehouseReader(warehouse)
    pack = EvidencePack()
    pack.add("ownership/ownership_sheet.md", sheet_markdown(contract).encode())
    pack.add("ownership/ownership_sheet.html", sheet_html(contract).encode())
    stem = f"report/report-{period}"
    pack.add(f"{stem}.html", render_html(report).encode())
    xlsx = io.BytesIO()
    write_xlsx(report, xlsx)
    pack.add(f"{stem}.xlsx", xlsx.getvalue())
    pack.add(f"{stem}.json", json.dumps(report.to_json(), indent=1).encode())
    _exports(pack, home / "exports", period)
    _gates(pack, reader, home / "gates", period)
    _dbt_results(pack, dbt_target)
    _writes(pack, reader, period)
    sample_traces(pack, warehouse)
    pack.add("design/retry_and_replay.md", retry_and_replay(contract).encode())
    return pack


#: sample -> (how to find its id: SQL returning one id, latest first; what it shows)
TRACE_SAMPLES: dict[str, tuple[str, str]] = {
    "blocked_payout": (
        "select object_id from ops.audit_trail where action = 'held_by_gate'"
        " and target_object = 'payout' order by seq desc limit 1",
        "a payout the compliance gates held (q2c/compliance/payouts.py)",
    ),
    "released_payout": (
        "select target_id from ops.audit_trail where action = 'written'"
        " and target_object = 'payout' and result = 'ok' order by seq desc limit 1",
        "a payout q2c released on a connected account",
    ),
    "exported_invoice": (
        "select external_id from ops.export_ledger where status in ('posted', 'already_posted')"
        " order by recorded_at desc",
        "an invoice the ERP export posted",
    ),
    "written_account": (
        "select match_value from ops.audit_trail where action = 'written'"
        " and target_object = 'Account' and result = 'ok' order by seq desc limit 1",
        "a CRM account the write-back wrote",
    ),
}
_INVOICE_ID = re.compile(r"(?<![A-Za-z0-9])in_[A-Za-z0-9]+")


def sample_traces(pack: EvidencePack, warehouse: WarehouseLike) -> None:
    if not isinstance(warehouse, Warehouse):
        pack.missing["traces"] = "sample traces need the q2c warehouse (q2c.audit.trace)"
        return
    for name, (sql, what) in TRACE_SAMPLES.items():
        table = "export_ledger" if name == "exported_invoice" else "audit_trail"
        rows = warehouse.fetchall(sql) if warehouse.table_exists("ops", table) else []
        ids = [str(r[0]) for r in rows if r[0] is not None]
        if name == "exported_invoice":  # external ids carry the billing id: q2c-invoice-in_...
            ids = [m.group(0) for m in map(_INVOICE_ID.search, ids) if m]
        if not ids:
            pack.missing[f"traces/{name}.json"] = f"no {what} in ops.{table}"
            continue
        found = ids[0]
        report = trace(warehouse, found)
        body = {"sample": name, "what": what, **report.as_dict()}
        pack.add(f"traces/{name}.json", json.dumps(body, indent=1, default=str).encode())


def _exports(pack: EvidencePack, root: Path, period: Period) -> None:
    days = [
        d
        for d in sorted(root.iterdir() if root.is_dir() else [])
        if d.is_dir() and d.name.startswith(str(period)) and (d / "manifest.json").exists()
    ]
    for day in days:
        pack.add_tree(f"exports/{day.name}", day)
    if not days:
        pack.missing["exports"] = f"no ERP export manifest for a day of {period} under {root}"


def _gates(pack: EvidencePack, reader: WarehouseReader, root: Path, period: Period) -> None:
    if not reader.has("ops", "gate_decisions", "run_id", "decided_at"):
        pack.missing["gates"] = "no ops.gate_decisions table: no gate has decided yet"
        return
    runs = [
        r["run_id"]
        for r in reader.rows(
            "select distinct run_id from ops.gate_decisions where decided_at >= ?",
            ["run_id"],
            [period.start],
            order=["run_id"],
        )
    ]
    if not runs:
        pack.missing["gates"] = f"no gate decision since {period.start:%Y-%m-%d}"
    for run_id in runs:
        directory = root / "".join(c if c in _SAFE else "_" for c in run_id)
        if not directory.is_dir() or not pack.add_tree(f"gates/{directory.name}", directory):
            pack.missing[f"gates/{directory.name}"] = (
                f"run {run_id} decided without validation results under {root}"
            )


def _dbt_results(pack: EvidencePack, target: Path | None) -> None:
    found = sorted(
        (p for p in (target.rglob("run_results.json") if target and target.is_dir() else [])),
        key=lambda p: p.stat().st_mtime,
    )
    if not found:
        pack.missing["dbt/run_results.json"] = f"no dbt run_results.json under {target}"
        return
    pack.add("dbt/run_results.json", found[-1].read_bytes())


def _writes(pack: EvidencePack, reader: WarehouseReader, period: Period) -> None:
    columns = [c for c in reader.columns("ops", "audit_trail") if c not in VALUE_COLUMNS]
    if not columns:
        pack.missing["writes/audit_trail.csv"] = "no ops.audit_trail table: q2c wrote nothing"
        return
    where = " where recorded_at >= ?" if "recorded_at" in columns else ""
    rows = reader.rows(
        f"select {', '.join(columns)} from ops.audit_trail{where}",
        columns,
        [period.start] if where else [],
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([[_text(r[c]) for c in columns] for r in rows])
    pack.add("writes/audit_trail.csv", out.getvalue().encode())


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def retry_and_replay(contract: Contract) -> str:
    """The retry, dead-letter and replay design as the contract configures it (Markdown)."""
    wb = contract.writeback
    lines = [
        f"# Retry and replay design ({contract.company})",
        "",
        "Generated from the ownership contract; every number below is the contract's.",
        "",
        "## Writes to the CRM and support tool",
        "",
        f"- Retries: exponential backoff with jitter from {wb.retry.initial_backoff_seconds} s "
        f"up to {wb.retry.max_backoff_seconds} s between attempts, on transient errors only.",
        f"- Dead letter: a record that fails {wb.dead_letter.max_receive_count} times moves to "
        "`ops.dead_letters` with every attempt's error (masked); `q2c dlq redrive` replays it "
        "oldest first after checking the source still wants the value.",
        f"- Batches above {wb.bulk_threshold} rows go through Bulk API 2.0 upserts, smaller "
        "ones through sObject Collections; every write's idempotency key is stored in "
        "`ops.outbox` before it is sent, so a crashed run is reconciled, never resent.",
        "",
        "| target | object | operation | match on | flow | phase | max writes per run |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in wb.targets:
        flow = contract.rollout.get(t.flow)
        lines.append(
            f"| {t.system} | {t.object} | {t.operation} | {t.match_on} | {t.flow} | "
            f"{flow.phase if flow else 'not in rollout'} | "
            f"{flow.max_writes_per_run if flow and flow.max_writes_per_run else '-'} |"
        )
    lines += [
        "",
        "## Every flow's rollout phase and kill switch",
        "",
        "`q2c policy pause FLOW` stops one write path; ingestion keeps running.",
        "",
        "| flow | kind | phase | writes to |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {f.kind} | {f.phase} | {f.writes_to or '-'} |"
        for name, f in contract.rollout.items()
    ]
    payout = next((t for t in wb.targets if t.object == "payout"), None)
    if payout is not None:
        flow = contract.rollout.get(payout.flow)
        lines += [
            "",
            "## Payout release (connected accounts on a manual payout schedule)",
            "",
            f"- Flow `{payout.flow}`, phase {flow.phase if flow else 'not in rollout'}, at most "
            f"{flow.max_writes_per_run if flow and flow.max_writes_per_run else '-'} payouts a "
            "run; only accounts no compliance hold (`reconciliation.compliance_holds`, action "
            "payout_release) and no open review item holds.",
            "- Each payout is stored in `ops.payout_outbox` with its idempotency key "
            "(`q2c-payout-<account>-<currency>-<n>`) before the request; a row a crashed run left "
            "pending is sent again with the same key and parameters, which the billing platform "
            "answers with the same payout (never a second one). Rate limits and outages leave it "
            "pending for the next run; a refusal (4xx) is recorded with its code and not retried.",
        ]
    lines += [
        "",
        "## ERP journal export",
        "",
        "Each journal entry is upserted by its external id with an idempotency key derived from "
        "its content; the ERP's answer (posted, already posted, rejected) is kept in "
        "`ops.export_ledger`, so a rerun sends only what the ERP has not accepted.",
        "",
    ]
    return "\n".join(lines)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_evidence_pack(pack: EvidencePack, path: Path, *, meta: dict[str, Any]) -> Path:
    """Write the zip: every file, `MANIFEST.json` (sha256, bytes, what is missing) and
    `SHA256SUMS`. Entries carry a fixed timestamp, so the same evidence gives the same zip."""
    manifest = {
        **meta,
        "files": [
            {"path": name, "sha256": sha256(data), "bytes": len(data)}
            for name, data in sorted(pack.files.items())
        ],
        "missing": dict(sorted(pack.missing.items())),
    }
    sums = "".join(f"{sha256(d)}  {n}\n" for n, d in sorted(pack.files.items()))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in _ordered(pack.files, manifest, sums):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    tmp.replace(path)
    return path


def _ordered(
    files: dict[str, bytes], manifest: dict[str, Any], sums: str
) -> Iterable[tuple[str, bytes]]:
    yield "MANIFEST.json", json.dumps(manifest, indent=1, default=str).encode()
    yield "SHA256SUMS", sums.encode()
    yield from sorted(files.items())
