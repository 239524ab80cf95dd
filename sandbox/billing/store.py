"""Read and write `billing.sqlite` (INTERFACES.md section 1), live, without caching rows.

Each thread keeps one connection in autocommit mode, so every statement is its own
transaction and sees what the world generator's `advance` (or another writer) committed a
moment before. Bodies are returned as the stored JSON text: the list hot path concatenates
them and never parses them.

The stand-in adds one table to the file, `idempotency_keys`, where it keeps the first
response to each `Idempotency-Key` (see `idempotency.py`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Newest first, ties broken by id: the order of every Stripe list (index-backed).
_ORDER_DESC = "ORDER BY created DESC, id DESC"
_ORDER_ASC = "ORDER BY created ASC, id ASC"


@dataclass(frozen=True)
class Row:
    """One row of `objects`."""

    object: str
    id: str
    created: int
    deleted: bool
    body: str


@dataclass(frozen=True)
class Page:
    """One page of a list: bodies newest first, and whether more remain in that direction."""

    bodies: list[str]
    has_more: bool


class BillingStore:
    """Access to one world's `billing.sqlite`.

    Args:
        path: the `billing.sqlite` file; it must exist and hold the `objects` table.
    """

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"no billing world at {path}")
        self.path = path
        self._local = threading.local()
        conn = self.conn()
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        missing = {"objects", "meta"} - tables
        if missing:
            raise ValueError(f"{path} is not a billing world: missing tables {sorted(missing)}")
        self._index_on = self._pair_indexes(conn)

    @staticmethod
    def _pair_indexes(conn: sqlite3.Connection) -> dict[str, str]:
        """Index names by column, for the `(object, <column>)` indexes the world has."""
        out: dict[str, str] = {}
        for _seq, name, *_rest in conn.execute("PRAGMA index_list(objects)").fetchall():
            cols = [r[2] for r in conn.execute(f"PRAGMA index_info('{name}')").fetchall()]
            if len(cols) == 2 and cols[0] == "object":
                out.setdefault(cols[1], name)
        return out

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (autocommit; 10 s busy timeout for concurrent writers)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 10000")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def now(self) -> int:
        """The world's clock, `meta.now` (epoch seconds), read live."""
        row = self.conn().execute("SELECT value FROM meta WHERE key = 'now'").fetchone()
        if row is None:
            raise ValueError(f"{self.path}: meta.now is missing")
        return int(row[0])

    def get(self, object_id: str) -> Row | None:
        """The row with this id, deleted or not."""
        r = (
            self.conn()
            .execute(
                "SELECT object, id, created, deleted, body FROM objects WHERE id = ?", (object_id,)
            )
            .fetchone()
        )
        return None if r is None else Row(r[0], r[1], r[2], bool(r[3]), r[4])

    def bodies_by_id(self, ids: Sequence[str]) -> dict[str, Row]:
        """Rows for many ids at once (expansion); unknown ids are absent."""
        out: dict[str, Row] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for r in self.conn().execute(
                f"SELECT object, id, created, deleted, body FROM objects WHERE id IN ({marks})",
                chunk,
            ):
                out[r[1]] = Row(r[0], r[1], r[2], bool(r[3]), r[4])
        return out

    def page(
        self,
        object_type: str,
        where: Sequence[tuple[str, Sequence[Any]]],
        *,
        limit: int,
        starting_after: tuple[int, str] | None = None,
        ending_before: tuple[int, str] | None = None,
        narrow_on: str | None = None,
    ) -> Page:
        """One page of live (not deleted) rows of `object_type`, newest first.

        Args:
            object_type: the `object` column value.
            where: extra SQL conditions with their arguments, ANDed.
            limit: page size (1..100, checked by the caller).
            starting_after: `(created, id)` of the cursor object: rows strictly older.
            ending_before: `(created, id)` of the cursor object: rows strictly newer,
                the ones nearest the cursor (Stripe pages backwards this way).
            narrow_on: a column `where` tests for equality (`parent`, `customer`, `payout`):
                its `(object, column)` index is used. Without statistics SQLite prefers the
                `created` index to skip the sort and scans every row of the type (16 ms per
                invoice's lines at scale S instead of 0.1 ms).

        Returns:
            The page, bodies newest first; `has_more` says whether rows remain beyond it in
            the direction of travel.
        """
        clauses = ["object = ?", "deleted = 0"]
        args: list[Any] = [object_type]
        for sql, values in where:
            clauses.append(sql)
            args.extend(values)
        order = _ORDER_DESC
        if starting_after is not None:
            clauses.append("(created, id) < (?, ?)")
            args.extend(starting_after)
        elif ending_before is not None:
            clauses.append("(created, id) > (?, ?)")
            args.extend(ending_before)
            order = _ORDER_ASC
        index = self._index_on.get(narrow_on) if narrow_on else None
        source = f"objects INDEXED BY {index}" if index else "objects"
        sql = f"SELECT body FROM {source} WHERE {' AND '.join(clauses)} {order} LIMIT ?"
        args.append(limit + 1)
        bodies = [r[0] for r in self.conn().execute(sql, args)]
        has_more = len(bodies) > limit
        del bodies[limit:]
        if order is _ORDER_ASC:
            bodies.reverse()
        return Page(bodies, has_more)

    def meta(self, key: str) -> str | None:
        """A `meta` value, or None."""
        row = self.conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])
