"""A throwaway PostgreSQL 15 server for the tests, started from the binaries on the machine.

`initdb` refuses to run as root, so when the suite runs as root the cluster directory is handed
to the `postgres` system user and `initdb`/`pg_ctl` run through `runuser`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PostgresServer:
    """Connection facts of a running throwaway server."""

    host: str
    port: int
    user: str
    data_dir: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}"')
            conn.execute(f'create database "{name}"')
        return self.url(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def start_postgres() -> PostgresServer:
    """Initialise a cluster in a temp dir and start it on a free loopback port."""
    for tool in ("initdb", "pg_ctl"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not on PATH: install the PostgreSQL 15 server binaries")
    root = Path(tempfile.mkdtemp(prefix="q2c-pg-"))
    data_dir = root / "data"
    data_dir.mkdir()
    user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(data_dir, "postgres")
    subprocess.run(
        _as_server_user(
            ["initdb", "-D", str(data_dir), "-U", user, "--auth=trust", "-E", "UTF8", "--no-sync"]
        ),
        check=True,
        capture_output=True,
    )
    port = _free_port()
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(
        _as_server_user(
            ["pg_ctl", "-D", str(data_dir), "-o", opts, "-l", str(root / "log"), "-w", "start"]
        ),
        check=True,
        capture_output=True,
    )
    server = PostgresServer(host="127.0.0.1", port=port, user=user, data_dir=data_dir)
    deadline = time.monotonic() + 30
    while True:
        try:
            import psycopg

            psycopg.connect(server.url(), connect_timeout=2).close()
            return server
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def stop_postgres(server: PostgresServer) -> None:
    subprocess.run(
        _as_server_user(["pg_ctl", "-D", str(server.data_dir), "-m", "immediate", "stop"]),
        check=False,
        capture_output=True,
    )
    shutil.rmtree(server.data_dir.parent, ignore_errors=True)
