"""Access to a world's `salesforce.sqlite`: records, the world's clock, the write journal.

Rows are read live (no caching), so `sandbox.world.advance` shows up at once. Every write runs
under one process-wide lock inside `BEGIN IMMEDIATE`, stamps `SystemModstamp` from the world's
clock (`meta.now`) made strictly increasing by whole milliseconds, and appends one
`write_journal` row per record written, in the same transaction::

    write_journal(seq INTEGER PRIMARY KEY, at TEXT, user_id TEXT, sobject TEXT, record_id TEXT,
                  operation TEXT,  -- insert / update / delete
                  before_json TEXT, after_json TEXT, request_id TEXT)
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox.salesforce.org import ORG, SObjectDef, id18
from sandbox.salesforce.query_plan import sf_datetime

_SCHEMA = """
CREATE TABLE IF NOT EXISTS write_journal(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    user_id TEXT NOT NULL,
    sobject TEXT NOT NULL,
    record_id TEXT NOT NULL,
    operation TEXT NOT NULL,
    before_json TEXT,
    after_json TEXT,
    request_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS write_journal_record ON write_journal(sobject, record_id);
"""
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def parse_sf_datetime(text: str) -> datetime:
    """`2026-11-01T00:00:00.000+0000` -> an aware datetime."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


class Store:
    """One world's Salesforce file, shared by the request threads of one app."""

    def __init__(self, world_dir: Path) -> None:
        self.path = Path(world_dir) / "salesforce.sqlite"
        if not self.path.exists():
            raise FileNotFoundError(f"no salesforce.sqlite in {world_dir}")
        self._local = threading.local()
        self.write_lock = threading.Lock()
        self._last_ms = 0
        conn = self.conn()
        conn.executescript(_SCHEMA)
        # Upserts look records up by external id: index those fields by expression.
        for obj in ORG.objects.values():
            for fld in obj.external_id_fields:
                conn.execute(
                    f"CREATE INDEX IF NOT EXISTS records_{obj.name}_{fld.name}_nocase "
                    f"ON records((body ->> '$.{fld.name}') COLLATE NOCASE) "
                    f"WHERE sobject = '{obj.name}'"
                )

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (autocommit; transactions are explicit)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.connect()
            self._local.conn = conn
        return conn

    def connect(self) -> sqlite3.Connection:
        """A new connection of the caller's own (autocommit), e.g. to hold a read snapshot."""
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    # -- clock ---------------------------------------------------------------------------------
    def now(self) -> datetime:
        """The world's clock (`meta.now`)."""
        row = self.conn().execute("SELECT value FROM meta WHERE key = 'now'").fetchone()
        if row is None:
            raise RuntimeError("salesforce.sqlite has no meta.now")
        return datetime.fromtimestamp(float(row[0]), UTC)

    def clock(self) -> datetime:
        """The world's clock, or the last write's stamp when writes went past it."""
        now = self.now()
        last = datetime.fromtimestamp(self._last_ms / 1000, UTC) if self._last_ms else now
        return max(now, last)

    def meta(self, key: str) -> str | None:
        """A value of the world's `meta` table, or None."""
        row = self.conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def next_stamp(self, now: datetime | None = None) -> str:
        """The next write's SystemModstamp: the world's clock, strictly after the last stamp.

        Call with `write_lock` held; pass `now` (the world's clock) when writing a batch.
        """
        if not self._last_ms:
            row = self.conn().execute("SELECT max(system_modstamp) FROM records").fetchone()
            if row[0]:
                self._last_ms = int(parse_sf_datetime(row[0]).timestamp() * 1000)
        now_ms = int((now or self.now()).timestamp() * 1000)
        self._last_ms = max(now_ms, self._last_ms + 1)
        return sf_datetime(datetime.fromtimestamp(self._last_ms / 1000, UTC))

    # -- reads ---------------------------------------------------------------------------------
    def get(self, record_id: str) -> tuple[str, dict[str, Any], bool] | None:
        """(sobject, body, is_deleted) of one record, or None."""
        row = (
            self.conn()
            .execute("SELECT sobject, body, is_deleted FROM records WHERE id = ?", (record_id,))
            .fetchone()
        )
        if row is None:
            return None
        return row[0], json.loads(row[1]), bool(row[2])

    def find_by_field(
        self, obj: SObjectDef, field: str, value: object, include_deleted: bool = False
    ) -> list[tuple[str, dict[str, Any]]]:
        """Records of `obj` whose `field` equals `value` (ids and bodies)."""
        deleted = "" if include_deleted else " AND is_deleted = 0"
        # The object's name is inlined (a schema name, not input) so SQLite can prove the
        # partial expression index `WHERE sobject = '<name>'` applies. Text matches ignore case,
        # as Salesforce's external ids do unless marked case-sensitive (describe
        # `caseSensitive`: false here), so `cus_Ab` and `cus_aB` are the same key.
        rows = (
            self.conn()
            .execute(
                f"SELECT id, body FROM records WHERE sobject = '{obj.name}' AND "
                f"(body ->> '$.{field}') = ? COLLATE NOCASE{deleted}",
                (value,),
            )
            .fetchall()
        )
        return [(r[0], json.loads(r[1])) for r in rows]

    def user_by_username(self, username: str) -> tuple[str, dict[str, Any]] | None:
        """(id, body) of the active User with this username, or None."""
        row = (
            self.conn()
            .execute(
                "SELECT id, body FROM records WHERE sobject = 'User' AND is_deleted = 0 "
                "AND (body ->> '$.Username') = ? COLLATE NOCASE",
                (username,),
            )
            .fetchone()
        )
        return None if row is None else (row[0], json.loads(row[1]))

    def new_id(self, obj: SObjectDef) -> str:
        """A fresh 18-character id with the object's key prefix."""
        while True:
            middle = "".join(secrets.choice(_BASE62) for _ in range(12))
            rid = id18(obj.key_prefix + middle)
            if self.get(rid) is None:
                return rid

    # -- writes --------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The process-wide write lock plus one IMMEDIATE transaction."""
        with self.write_lock:
            conn = self.conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    @staticmethod
    def put(
        conn: sqlite3.Connection,
        obj: SObjectDef,
        body: dict[str, Any],
        before: dict[str, Any] | None,
        *,
        operation: str,
        user_id: str,
        request_id: str,
    ) -> None:
        """Write one record and its journal row (inside `transaction`)."""
        text = json.dumps(body, separators=(",", ":"))
        conn.execute(
            "INSERT INTO records(sobject, id, system_modstamp, is_deleted, body) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET "
            "system_modstamp = excluded.system_modstamp, is_deleted = excluded.is_deleted, "
            "body = excluded.body",
            (obj.name, body["Id"], body["SystemModstamp"], int(bool(body["IsDeleted"])), text),
        )
        conn.execute(
            "INSERT INTO write_journal(at, user_id, sobject, record_id, operation, before_json, "
            "after_json, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                body["SystemModstamp"],
                user_id,
                obj.name,
                body["Id"],
                operation,
                None if before is None else json.dumps(before, separators=(",", ":")),
                text,
                request_id,
            ),
        )

    def journal(
        self,
        since_seq: int = 0,
        sobject: str | None = None,
        limit: int = 10000,
        record_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Journal rows after `since_seq`, oldest first."""
        sql = "SELECT * FROM write_journal WHERE seq > ?"
        params: list[object] = [since_seq]
        if sobject:
            sql += " AND sobject = ?"
            params.append(sobject)
        if record_id:
            sql += " AND record_id = ?"
            params.append(record_id)
        sql += " ORDER BY seq LIMIT ?"
        params.append(limit)
        cur = self.conn().execute(sql, params)
        names = [d[0] for d in cur.description]
        out = []
        for row in cur.fetchall():
            item = dict(zip(names, row, strict=True))
            for key in ("before_json", "after_json"):
                item[key.removesuffix("_json")] = (
                    None if item[key] is None else json.loads(item[key])
                )
                del item[key]
            out.append(item)
        return out
