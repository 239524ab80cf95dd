"""Warehouse access: one small object over a DuckDB file or a PostgreSQL database.

Contract:
- `WarehouseUrl.parse(url)` (`q2c/warehouse_url.py`, re-exported here) is the one reader of a
  warehouse URL (`Q2C_WAREHOUSE_URL`).
- `Warehouse.from_url("duckdb:///path/to/file.duckdb")` opens (and creates) a DuckDB file through
  the `duckdb` package; `Warehouse.from_url("postgresql://...")` connects through psycopg 3.
- SQL handed to `execute`/`fetchall` uses `?` placeholders on both dialects (translated to `%s`
  for psycopg), so callers write one statement for both stores.
- `transaction()` is the only way to group statements: it commits when the block ends and rolls
  back on any exception. Outside it every statement commits on its own.
- Schemas (`raw`, `ops`, ...) are created on demand by `ensure_schema`.
- DuckDB allows one writing process per file: a `Warehouse` holds one connection, opened lazily
  and released by `close()` (or the `with` block), so hold it only for the work at hand. Its
  DuckDB settings (buffer-pool cap, threads, spill directory) are the process's
  (`q2c.settings.Settings.duckdb_config`: 128 MB by default, so memory stays flat as the
  warehouse grows), or `duckdb_config` when one is given.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from q2c.settings import load_settings
from q2c.warehouse_url import ACCEPTED_URLS, Dialect, WarehouseUrl

__all__ = ["ACCEPTED_URLS", "Dialect", "Warehouse", "WarehouseUrl", "quote_identifier"]

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def quote_identifier(name: str) -> str:
    """Return `name` as a safe SQL identifier (lowercase letters, digits, underscores only).

    Raises:
        ValueError: if the name has any other character; table names come from source and
            object names, and a typo there must fail loudly rather than reach the SQL.
    """
    if not _IDENTIFIER.match(name):
        raise ValueError(
            f"not a valid identifier: {name!r} (use [a-z0-9_], starting with a letter)"
        )
    return name


class Warehouse:
    """A connection to the warehouse (DuckDB or PostgreSQL) with transactions and schemas."""

    def __init__(
        self, url: str, dialect: Dialect, target: str, duckdb_config: dict[str, str] | None = None
    ) -> None:
        self.url = url
        #: DuckDB's settings for this connection (`memory_limit`, `threads`, `temp_directory`);
        #: None: the process's settings (`Settings.duckdb_config`)
        self.duckdb_config = duckdb_config
        self.dialect: Dialect = dialect
        self._target = target
        self._conn: Any = None
        self._schemas: set[str] = set()
        # Tables this process has already created (`schema.table`), so DDL runs once.
        self.prepared: set[str] = set()
        self._in_transaction = False

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_url(cls, url: str) -> Warehouse:
        """Build a warehouse for `duckdb:///<path>` or `postgresql://...` (`postgres://` too).

        Args:
            url: the warehouse URL, as in `Q2C_WAREHOUSE_URL`.

        Raises:
            ValueError: for any other scheme, with the accepted forms in the message.
        """
        parsed = WarehouseUrl.parse(url)
        if parsed.path is not None:
            return cls(url, "duckdb", str(parsed.path))
        return cls(url, "postgres", url)

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgres"

    @property
    def duckdb_path(self) -> Path:
        """The DuckDB file this warehouse writes (only for DuckDB warehouses)."""
        if self.dialect != "duckdb":
            raise ValueError("the warehouse is PostgreSQL, not DuckDB")
        return Path(self._target)

    # -- connection ---------------------------------------------------------------------------
    @property
    def connection(self) -> Any:
        """The open driver connection (`duckdb.DuckDBPyConnection` or `psycopg.Connection`)."""
        if self._conn is None:
            if self.dialect == "duckdb":
                import duckdb

                path = Path(self._target)
                if path.parent and not path.parent.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                # DuckDB caches written blocks up to 80% of RAM by default, so a landing
                # process's memory would grow with the warehouse; the limit keeps it flat (it
                # spills to disk beyond it). Measured at M: 128 MB gives a 350 MB peak RSS and
                # 512 MB a 611 MB one, at the same landing speed.
                config = self.duckdb_config
                if config is None:
                    config = load_settings().duckdb_config()
                self._conn = duckdb.connect(str(path), config=config)
            else:
                import psycopg

                # autocommit: statements outside `transaction()` commit on their own, and
                # `transaction()` opens an explicit BEGIN/COMMIT.
                self._conn = psycopg.connect(self._target, autocommit=True)
        return self._conn

    def close(self) -> None:
        """Close the connection (DuckDB releases its file lock)."""
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- statements ---------------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgres" else sql

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> int:
        """Run one statement; return the number of rows it changed (-1 when not known)."""
        conn = self.connection
        if self.dialect == "duckdb":
            result = conn.execute(sql, params or [])
            if sql.lstrip().lower().startswith(("insert", "update", "delete")):
                row = result.fetchone()
                return int(row[0]) if row else 0
            return -1
        cur = conn.execute(self._sql(sql), params or None)
        return cur.rowcount

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a query and return every row as a tuple."""
        conn = self.connection
        if self.dialect == "duckdb":
            return conn.execute(sql, params or []).fetchall()
        return conn.execute(self._sql(sql), params or None).fetchall()

    def fetchone(self, sql: str, params: Sequence[Any] | None = None) -> tuple[Any, ...] | None:
        """Run a query and return its first row (or None)."""
        rows = self.fetchall(sql, params)
        return rows[0] if rows else None

    @contextmanager
    def transaction(self) -> Iterator[Warehouse]:
        """Group statements: commit at the end of the block, roll back on any exception.

        Nested use joins the outer transaction (the outer block decides).
        """
        if self._in_transaction:
            yield self
            return
        conn = self.connection
        if self.dialect == "duckdb":
            conn.execute("begin transaction")
        else:
            conn.execute("begin")
        self._in_transaction = True
        try:
            yield self
        except BaseException:
            self._in_transaction = False
            self._rollback()
            raise
        self._in_transaction = False
        self._commit()

    def _commit(self) -> None:
        self.connection.execute("commit")

    def _rollback(self) -> None:
        try:
            self.connection.execute("rollback")
        except Exception:
            # The connection may already be gone (server restart); the database rolled back.
            self.close()

    # -- schemas and tables -------------------------------------------------------------------
    def ensure_schema(self, schema: str) -> None:
        """Create `schema` if it does not exist (cached per connection)."""
        if schema in self._schemas:
            return
        self.execute(f"create schema if not exists {quote_identifier(schema)}")
        self._schemas.add(schema)

    def table_exists(self, schema: str, table: str) -> bool:
        """True when `schema.table` exists."""
        row = self.fetchone(
            "select count(*) from information_schema.tables where table_schema = ? "
            "and table_name = ?",
            [schema, table],
        )
        return bool(row and row[0])

    @property
    def json_type(self) -> str:
        """The column type for JSON documents (`JSON` in DuckDB, `jsonb` in PostgreSQL)."""
        return "jsonb" if self.dialect == "postgres" else "json"

    @property
    def bytes_type(self) -> str:
        return "bytea" if self.dialect == "postgres" else "blob"
