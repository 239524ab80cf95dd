"""The ERP export of one day, exactly once: heal, cut, gate, paper trail, outbox, send, ledger.

`run_export(wh, poster, partition=D, ...)`:
1. Heal: every outbox entry without a ledger row (a run that crashed between sending and
   recording) is looked up in the ERP by external id; one it holds is ledgered
   `already_posted`, the others are sent again (the upsert by external id makes a resend
   harmless).
2. A day already delivered (`ops.export_batches` row `sent`/`empty` for D): its files are
   rewritten from the stored batch, byte for byte, and nothing is sent.
3. Cut: the lines of `exports.export_erp_journal_lines` dated on or before D, minus entries
   the ERP accepted or an outbox holds (skipped in SQL against the ledger beside the model),
   read with a cursor in chunks ordered by external id and grouped into entries as they
   stream, minus rejected entries whose content is unchanged (retried only once their cause
   changed, e.g. re-extracted periods). Memory grows with the batch, not the history.
4. Gate: `gate(batch_frame, run_id)` (the `erp_export` gate) plus the wire's own rule: an
   amount in a currency with more decimals than the ERP takes (`erp_decimal_places`, 2) is
   refused with that reason, never rounded. The decision is recorded (`record_gate`). Entries
   the gate holds (`decision.held`: an open break of the flow's kinds on their billing objects)
   are left out of the batch with their reasons (the manifest's `held`, and a `held_by_gate`
   event each in `ops.audit_trail`); nothing of them is queued, so a later run whose cut no
   longer holds them sends them.
5. Files under `<out_root>/<D>/`: the CSV and `manifest.json` (with the gate decision and the
   held entries). A refused batch is kept (`ops.export_batches` status `refused` with its
   reasons) and nothing is marked exported.
6. Outbox (batch row and every entry in one transaction), then send through `poster`, each
   answer recorded in `ops.export_ledger` (flushed every `flush_every` answers).
`dry_run` evaluates and writes the files under `<D>/dry-run/` and records nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from q2c.exports import ledger
from q2c.exports.entries import JournalEntry, JournalPoster, PostResult, entries_from_rows
from q2c.exports.files import build_manifest, render_csv, write_files
from q2c.warehouse import Warehouse

if TYPE_CHECKING:
    import pandas as pd

    from q2c.gates import GateDecision

LINES_TABLE = "exports.export_erp_journal_lines"
Gate = Callable[["pd.DataFrame", str], "GateDecision"]
RecordGate = Callable[["GateDecision"], None]


@dataclass
class ExportOutcome:
    """What one run did for one day."""

    partition: str
    status: str  # sent | refused | empty | delivered_before | dry_run
    batch_id: str | None = None
    entries: int = 0
    lines: int = 0
    posted: int = 0
    already_posted: int = 0
    rejected: int = 0
    pending: int = 0
    healed: int = 0
    held_rejected: int = 0
    #: entries the gate held out of the batch (open breaks of the flow's kinds)
    held: int = 0
    #: entries held out because an open review item names their billing object (q2c review)
    held_for_review: int = 0
    reasons: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    manifest: str | None = None
    errors: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("manifest")
        return out


def _undelivered_sql(wh: Warehouse) -> str:
    """The lines dated on or before the day whose entry the ERP has not accepted and no outbox
    holds pending (the ledger and outbox live beside the model), in order of the entry key."""
    sql = (
        f"select x.* from {LINES_TABLE} as x where x.trandate <= cast(? as date) "
        "and not exists (select 1 from ops.export_ledger as l where l.external_id = "
        "x.external_id and l.status in ('posted', 'already_posted')) "
        "and not exists (select 1 from ops.export_outbox as o where o.external_id = "
        "x.external_id and not exists (select 1 from ops.export_ledger as p "
        "where p.idempotency_key = o.idempotency_key)) "
        "order by x.external_id, x.line_number"
    )
    return sql.replace("?", "%s") if wh.is_postgres else sql


def iter_line_chunks(
    wh: Warehouse, partition: date, chunk_rows: int = 5000
) -> Iterator[list[dict[str, Any]]]:
    """The export model's undelivered lines dated on or before `partition`, as dicts, in
    chunks of at most `chunk_rows`, ordered by external id (a cursor: memory grows with the
    chunk, not the history). Nothing else may run on the connection until it is exhausted."""
    if not wh.table_exists("exports", "export_erp_journal_lines"):
        raise RuntimeError(
            "exports.export_erp_journal_lines is not built: run the dbt assets first (q2c run)"
        )
    sql, params = _undelivered_sql(wh), [partition.isoformat()]
    if not wh.is_postgres:
        cur = wh.connection.execute(sql, params)
        names = [d[0] for d in cur.description]
        while chunk := cur.fetchmany(chunk_rows):
            yield [dict(zip(names, row, strict=True)) for row in chunk]
        return
    # a server-side cursor (DECLARE needs a transaction; this one only reads)
    with wh.transaction(), wh.connection.cursor(name="q2c_export_lines") as cur:
        cur.execute(sql, params)
        names = None
        while chunk := cur.fetchmany(chunk_rows):
            names = names or [d.name for d in cur.description]
            yield [dict(zip(names, row, strict=True)) for row in chunk]


def entry_chunks(chunks: Iterable[list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
    """Regroup line chunks ordered by external id so that no entry spans two chunks (an
    entry's lines cut at a chunk's end are carried into the next)."""
    tail: list[dict[str, Any]] = []
    for chunk in chunks:
        rows = tail + chunk
        last, cut = str(rows[-1]["external_id"]), len(rows)
        while cut and str(rows[cut - 1]["external_id"]) == last:
            cut -= 1
        tail = rows[cut:]
        if cut:
            yield rows[:cut]
    if tail:
        yield tail


def precision_reasons(entries: Sequence[JournalEntry], erp_decimal_places: int) -> list[str]:
    """Why the ERP cannot hold some amounts exactly (currencies with more decimals)."""
    bad = sorted({e.currency for e in entries if e.currency_decimals > erp_decimal_places})
    return [
        f"currency {c} has 3 decimal places and the ERP takes {erp_decimal_places}: "
        "refused rather than rounded"
        if any(e.currency == c and e.currency_decimals == 3 for e in entries)
        else f"currency {c} has more decimal places than the ERP's {erp_decimal_places}"
        for c in bad
    ]


def _send(
    wh: Warehouse,
    poster: JournalPoster,
    batch_of: dict[str, str],
    entries: Sequence[JournalEntry],
    run_id: str,
    flush_every: int,
) -> list[PostResult]:
    sent = {e.idempotency_key: (batch_of[e.idempotency_key], e.content_hash) for e in entries}
    results: list[PostResult] = []
    buffer: list[PostResult] = []
    for result in poster.post(entries):
        buffer.append(result)
        if len(buffer) >= flush_every:
            ledger.record_results(wh, sent, buffer, run_id)
            results += buffer
            buffer = []
    ledger.record_results(wh, sent, buffer, run_id)
    return results + buffer


def heal(wh: Warehouse, poster: JournalPoster, run_id: str, flush_every: int = 200) -> int:
    """Record or resend every outbox entry a crashed run left without an answer."""
    waiting = ledger.pending(wh)
    if not waiting:
        return 0
    batch_of = {p.entry.idempotency_key: p.batch_id for p in waiting}
    held = poster.existing([p.entry.external_id for p in waiting])
    found = [
        PostResult(p.entry.external_id, p.entry.idempotency_key, "already_posted", held[eid])
        for p in waiting
        if (eid := p.entry.external_id) in held
    ]
    sent = {p.entry.idempotency_key: (p.batch_id, p.entry.content_hash) for p in waiting}
    ledger.record_results(wh, sent, found, run_id)
    resend = [p.entry for p in waiting if p.entry.external_id not in held]
    _send(wh, poster, batch_of, resend, run_id, flush_every)
    return len(waiting)


def _count(outcome: ExportOutcome, results: Sequence[PostResult]) -> None:
    for r in results:
        if r.status == "posted":
            outcome.posted += 1
        elif r.status == "already_posted":
            outcome.already_posted += 1
        else:
            outcome.rejected += 1
            outcome.errors[r.error_code or "?"] = outcome.errors.get(r.error_code or "?", 0) + 1


def _held_for_review(
    wh: Warehouse, rows: Sequence[dict[str, Any]], held: dict[str, tuple[str, ...]]
) -> dict[str, tuple[str, ...]]:
    """Entries whose billing object an open review item of the export names (a red flag such
    as credit notes beyond their invoice, `q2c review`): held until a person resolves it."""
    from q2c.review import held_subjects

    subjects = held_subjects(wh, "erp_export")
    return {
        row["external_id"]: (
            f"open review item on billing {row.get('entry_kind')} {row['billing_id']} "
            "(q2c review list)",
        )
        for row in rows
        if row.get("billing_id") in subjects and row["external_id"] not in held
    }


def _record_holds(wh: Warehouse, held: dict[str, tuple[str, ...]], run_id: str) -> None:
    """A `held_by_gate` audit event per held entry (once per entry and set of reasons)."""
    if not held:
        return
    from q2c.audit.trail import record_events
    from q2c.gates.holds import hold_events

    record_events(wh, hold_events(wh, "erp_export", held, run_id=run_id, actor="q2c:export",
                                  target_system="erp", target_object="journalEntry",
                                  object_type="journal_entry"))  # fmt: skip


def run_export(
    wh: Warehouse,
    poster: JournalPoster | None,
    *,
    partition: date,
    gate: Gate,
    record_gate: RecordGate,
    run_id: str,
    out_root: Path,
    dry_run: bool = False,
    erp_decimal_places: int = 2,
    flush_every: int = 200,
    chunk_rows: int = 5000,
) -> ExportOutcome:
    """Export the day `partition` (see the module docstring).

    Args:
        wh: the warehouse (the export model and the ops tables).
        poster: the ERP sender (None only with `dry_run`).
        partition: the day D: entries dated on or before it that no earlier batch holds.
        gate: the `erp_export` gate over the batch's rows.
        record_gate: records a decision (`ops.gate_decisions`).
        run_id: the Dagster run id (or the command's own).
        out_root: `$Q2C_HOME/exports`.
        dry_run: decide and write the files under `<D>/dry-run/`; record and send nothing.
        erp_decimal_places: the most decimals the ERP holds for an amount.
        flush_every: answers per ledger transaction.
        chunk_rows: lines read from the model per fetch.
    """
    day = partition.isoformat()
    out_dir = out_root / day
    outcome = ExportOutcome(partition=day, status="empty")
    ledger.ensure_tables(wh)
    if not dry_run:
        if poster is None:
            raise ValueError("a poster is needed unless dry_run")
        outcome.healed = heal(wh, poster, run_id, flush_every)
        before = ledger.delivered_batch(wh, day)
        if before is not None:
            entries = ledger.batch_entries(wh, before.batch_id)
            csv_bytes = render_csv(entries)
            assert before.manifest is not None
            outcome.files = tuple(str(p) for p in write_files(out_dir, csv_bytes, before.manifest))
            counts = ledger.ledger_counts(wh, before.batch_id)
            outcome.status, outcome.batch_id = "delivered_before", before.batch_id
            outcome.entries, outcome.lines = len(entries), sum(len(e.lines) for e in entries)
            outcome.posted = counts.get("posted", 0)
            outcome.already_posted = counts.get("already_posted", 0)
            outcome.rejected = counts.get("rejected", 0)
            outcome.manifest = before.manifest
            return outcome

    # streamed: what the ERP accepted or an outbox holds is skipped in SQL, a rejected entry
    # whose content is unchanged chunk by chunk; only the batch's entries and rows are kept
    rejected = ledger.rejected_hashes(wh)
    entries: list[JournalEntry] = []
    batch_rows: list[dict[str, Any]] = []
    for rows in entry_chunks(iter_line_chunks(wh, partition, chunk_rows)):
        taken = set()
        for entry in entries_from_rows(rows):
            if rejected.get(entry.external_id) == entry.content_hash:
                outcome.held_rejected += 1
                continue
            entries.append(entry)
            taken.add(entry.external_id)
        batch_rows += [r for r in rows if str(r["external_id"]) in taken]
    entries.sort(key=lambda e: e.external_id)
    keep = {e.external_id for e in entries}
    # the day's first batch is -1; each refused one before it moves the number on
    batch_id = f"erp-{day}-{ledger.refused_batches(wh, day) + 1}"
    outcome.batch_id = batch_id
    if dry_run:
        out_dir = out_dir / "dry-run"

    gate_meta: dict[str, Any] | None = None
    reasons: tuple[str, ...] = ()
    held: dict[str, tuple[str, ...]] = {}
    if entries:
        import pandas as pd

        decision = gate(pd.DataFrame(batch_rows), run_id)
        held = {k: tuple(v) for k, v in decision.held.items() if k in keep}
        outcome.held = len(held)
        for_review = _held_for_review(wh, batch_rows, held)
        outcome.held_for_review = len(for_review)
        held.update(for_review)
        entries = [e for e in entries if e.external_id not in held]
        extra = precision_reasons(entries, erp_decimal_places)
        if extra:
            decision = dataclasses.replace(
                decision, passed=False, reasons=(*decision.reasons, *extra)
            )
        if not dry_run:
            record_gate(decision)
        reasons = decision.reasons
        gate_meta = {
            "passed": decision.passed,
            "reasons": list(decision.reasons),
            "validation_id": decision.validation_id,
            "decided_at": decision.decided_at.isoformat(),
        }
    outcome.entries, outcome.lines = len(entries), sum(len(e.lines) for e in entries)
    csv_bytes = render_csv(entries)
    manifest = build_manifest(
        batch_id=batch_id,
        partition=day,
        entries=entries,
        csv_bytes=csv_bytes,
        run_id=run_id,
        gate=gate_meta,
        held=held,
    )
    outcome.files = tuple(str(p) for p in write_files(out_dir, csv_bytes, manifest))
    outcome.manifest, outcome.reasons = manifest, reasons
    passed = gate_meta is None or gate_meta["passed"]
    status = "empty" if not entries and passed else ("sent" if passed else "refused")
    if dry_run:
        outcome.status = "dry_run"
        return outcome
    _record_holds(wh, held, run_id)
    if status == "refused":
        # kept with its reasons; nothing in the outbox, nothing marked exported
        ledger.record_batch(wh, batch_id, day, "refused", entries, reasons, manifest, run_id)
        outcome.status = "refused"
        return outcome
    ledger.record_batch(wh, batch_id, day, status, entries, reasons, manifest, run_id)
    outcome.status = status
    assert poster is not None
    results = _send(
        wh,
        poster,
        dict.fromkeys([e.idempotency_key for e in entries], batch_id),
        entries,
        run_id,
        flush_every,
    )
    _count(outcome, results)
    outcome.pending = len(entries) - len(results)
    return outcome
