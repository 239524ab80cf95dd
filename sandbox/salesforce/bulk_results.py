"""A Bulk API 2.0 query job's result set: rendered once as CSV into a spool file, served by rows.

Contract: `QueryResult.start(store, plan, ...)` takes the job's snapshot (the matching rowids,
in result order) inside read transactions that the renderers then keep open, so every row is
rendered as it was when the job was created: Salesforce also computes a query job's result set
at job time, and later writes do not show in it. Rendering then runs in the background on up
to `RENDER_THREADS` threads, `CHUNK` rows at a time, each chunk one SQLite statement
(`Plan.csv_chunk_sql`, which releases the GIL, so chunks render on two cores at once); chunks
are appended in order to an unlinked temporary file, and where each row ends is recorded, so a
page of any `maxRecords` from any row is one byte range of that file. `piece(row, end)` hands
out the rendered bytes of rows `row..end` (waiting for them while rendering is still behind),
so a page streams while later rows still render.

Memory: one chunk per renderer plus 8 bytes per row (row offsets); the CSV text is on disk
(the page cache). `close()` (job deleted, aborted or forgotten) stops rendering and drops the
file.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import tempfile
import threading
from array import array
from bisect import bisect_right
from concurrent.futures import ThreadPoolExecutor
from itertools import accumulate

from sandbox.salesforce.query_plan import Plan
from sandbox.salesforce.store import Store

CHUNK = 5_000  # rows per render statement (about 1 MB of CSV for 14 fields)
RENDER_THREADS = 2  # renderers per job: the machine's cores
PIECE_BYTES = 1 << 20  # at most this much CSV per piece handed to the event loop
# several jobs may render at once (an extractor reading objects in parallel); they share the cores
_POOL = ThreadPoolExecutor(max_workers=4 * RENDER_THREADS, thread_name_prefix="sf-bulk-render")

log = logging.getLogger(__name__)


class ResultError(RuntimeError):
    """The result set cannot be served: rendering failed or the job was closed."""


class QueryResult:
    """The CSV rows (no header) of one query job, rendered in the background."""

    def __init__(self, rowids: array, sql: str, eol: str) -> None:
        self.rowids = rowids
        self._sql = sql
        self._eol = eol
        self._file = tempfile.TemporaryFile(prefix="sf-bulk-")  # noqa: SIM115 (closed by close)
        self._ends = array("q", [0])  # _ends[i]: byte offset where row i starts
        self._cond = threading.Condition()
        self._chunks = -(-len(rowids) // CHUNK)
        self._next = 0  # next chunk to hand to a renderer
        self._written = 0  # chunks appended to the file
        self._ready: dict[int, tuple[bytes, list[int]]] = {}  # rendered, not yet appended
        self._closed = False
        self.error: str | None = None

    @classmethod
    def start(
        cls, store: Store, plan: Plan, *, include_deleted: bool, delimiter: str, eol: str
    ) -> QueryResult:
        """Snapshot the job's rows and start rendering them; returns at once after the snapshot.

        Raises:
            sqlite3.Error: the snapshot query failed.
        """
        sql, params = plan.snapshot_sql(include_deleted=include_deleted)
        conns = [store.connect() for _ in range(RENDER_THREADS)]
        try:
            # Every renderer opens its read transaction before the snapshot is taken, with the
            # process's writers held off, so all of them see the same committed state.
            with store.write_lock:
                for conn in conns:
                    conn.execute("BEGIN")
                    conn.execute("SELECT count(*) FROM meta").fetchone()  # pins the snapshot
                rowids = array("q", (r[0] for r in conns[0].execute(sql, params)))
        except BaseException:
            for conn in conns:
                conn.close()
            raise
        result = cls(rowids, plan.csv_chunk_sql(delimiter), eol)
        workers = conns[: min(len(conns), result._chunks)]
        for conn in conns[len(workers) :]:
            conn.close()
        for conn in workers:
            _POOL.submit(result._render, conn)
        return result

    @property
    def nbytes(self) -> int:
        """Bytes of CSV rendered so far (in the spool file)."""
        with self._cond:
            return self._ends[-1]

    @property
    def rendered(self) -> int:
        """Rows rendered so far."""
        with self._cond:
            return len(self._ends) - 1

    def _render(self, conn: sqlite3.Connection) -> None:
        try:
            while True:
                with self._cond:
                    if self._closed or self.error or self._next >= self._chunks:
                        return
                    index = self._next
                    self._next += 1
                ids = self.rowids[index * CHUNK : (index + 1) * CHUNK].tolist()
                text, lengths = conn.execute(self._sql, (json.dumps(ids), self._eol)).fetchone()
                sizes = json.loads(lengths) if lengths else []
                if len(sizes) != len(ids):
                    raise ResultError(f"{len(ids) - len(sizes)} rows of the snapshot vanished")
                data = (text + self._eol).encode() if sizes else b""
                with self._cond:
                    if self._closed:
                        return
                    self._ready[index] = (data, sizes)
                    self._append()
        except Exception as exc:  # the pages being served fail with this message
            log.exception("rendering a Bulk query result failed")
            with self._cond:
                self.error = f"{type(exc).__name__}: {exc}"
                self._cond.notify_all()
        finally:
            conn.close()  # ends the read transaction

    def _append(self) -> None:
        """Append the chunks that are next in order (with the lock held)."""
        eol = len(self._eol.encode())
        while self._written in self._ready and not self._closed:
            data, sizes = self._ready.pop(self._written)
            base = self._ends[-1]
            if os.pwrite(self._file.fileno(), data, base) != len(data):
                raise OSError("short write to the result file")
            ends = accumulate((s + eol for s in sizes), initial=base)
            next(ends)
            self._ends.extend(ends)
            self._written += 1
            self._cond.notify_all()

    def piece(self, row: int, end: int, timeout: float = 300.0) -> tuple[int, bytes]:
        """The CSV of rows `row` up to `end` (exclusive) that is rendered, waiting for one row.

        Returns (the row after the last one returned, their bytes); at most `PIECE_BYTES` unless
        one row is longer.

        Raises:
            ResultError: rendering failed, the result was closed, or no row came in `timeout`.
        """
        with self._cond:
            if not self._cond.wait_for(
                lambda: self._closed or self.error or len(self._ends) - 1 > row, timeout
            ):
                raise ResultError("timed out waiting for the result to render")
            if self._closed:
                raise ResultError("the job was deleted")
            if self.error:
                raise ResultError(self.error)
            upto = min(end, len(self._ends) - 1)
            start = self._ends[row]
            # the last row that still fits in PIECE_BYTES (at least one row)
            fits = bisect_right(self._ends, start + PIECE_BYTES, row + 1, upto + 1) - 1
            upto = max(fits, row + 1)
            # read under the lock: close() may not free the file while it is read
            return upto, os.pread(self._file.fileno(), self._ends[upto] - start, start)

    def close(self) -> None:
        """Stop rendering and drop the file; pieces asked for afterwards fail."""
        with self._cond:
            if not self._closed:
                self._closed = True
                self._ready.clear()
                self._file.close()
                self._cond.notify_all()
