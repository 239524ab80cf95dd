"""The warehouse URL (`Q2C_WAREHOUSE_URL`): its one parser, apart from the connection.

Contract:
- `WarehouseUrl.parse(url)` is the one reader of a warehouse URL: `duckdb:///<path>` or
  `postgresql://user:password@host:port/database` (`postgres://` too); anything else is a
  `ValueError` naming the accepted forms. Settings, the environment decision, dbt's profile
  variables and `q2c.warehouse.Warehouse.from_url` all read the URL through it.
- It imports nothing of ours, so `q2c.settings` can parse the URL and `q2c.warehouse` can read
  the settings without an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

Dialect = Literal["duckdb", "postgres"]

ACCEPTED_URLS = "duckdb:///<path> or postgresql://user:password@host:port/database"


@dataclass(frozen=True)
class WarehouseUrl:
    """A parsed warehouse URL (see the module doc); `str()` gives the URL back."""

    url: str
    dialect: Dialect
    path: Path | None = None
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str = ""
    database: str = ""

    @classmethod
    def parse(cls, url: str) -> WarehouseUrl:
        """Parse `url`; a `ValueError` names the accepted forms for anything else."""
        if url.startswith("duckdb:///"):
            path = url.removeprefix("duckdb:///")
            if not path:
                raise ValueError(f"the duckdb URL names no file: use {ACCEPTED_URLS}")
            return cls(url, "duckdb", path=Path(path))
        if url.startswith(("postgresql://", "postgres://")):
            parts = urlsplit(url)
            database = unquote(parts.path.lstrip("/"))
            if not database:
                raise ValueError("the PostgreSQL warehouse URL names no database (.../database)")
            return cls(
                url,
                "postgres",
                host=parts.hostname or "127.0.0.1",
                port=parts.port or 5432,
                user=unquote(parts.username or "postgres"),
                password=unquote(parts.password or ""),
                database=database,
            )
        raise ValueError(
            f"unsupported warehouse URL scheme {url.split(':', 1)[0]!r}: use {ACCEPTED_URLS}"
        )

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgres"

    def __str__(self) -> str:
        return self.url
