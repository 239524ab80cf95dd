"""ERP delivery: journal entries sent exactly once, with a ledger, a manifest and control totals.

- `entries`: `JournalEntry` (exact amounts, content hash, idempotency key), `PostResult`, and
  the `JournalPoster` Protocol the ERP adapter implements (`extractors/erp/records.py`, the
  NetSuite REST record service); orchestration plugs it in.
- `ledger`: `ops.export_batches`, `ops.export_outbox`, `ops.export_ledger` (DuckDB, Postgres).
- `files`: the batch's import CSV and `manifest.json`.
- `engine`: `run_export()`, one day's export (heal, cut, gate, files, outbox, send, ledger).
"""

from q2c.exports.engine import ExportOutcome, run_export
from q2c.exports.entries import JournalEntry, JournalLine, JournalPoster, PostResult

__all__ = [
    "ExportOutcome",
    "JournalEntry",
    "JournalLine",
    "JournalPoster",
    "PostResult",
    "run_export",
]
