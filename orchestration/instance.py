"""The Dagster instance q2c uses: `DAGSTER_HOME` (`.q2c/dagster` by default) with its own
`dagster.yaml`.

Contract:
- `ensure_instance_config(home)` writes `home/dagster.yaml` when there is none (an operator's
  file is never overwritten): telemetry off (a finance pipeline sends nothing out by default),
  the concurrency pools at one slot each (DuckDB takes one writing process: every warehouse step
  runs in the `warehouse` pool, `orchestration/policies.py`), queued runs, retention of
  schedule and sensor ticks, and q2c's loggers in the runs' event logs (`python_logs`).
  `deploy/dagster.yaml` is the PostgreSQL-backed equivalent.
- `open_instance(home)` ensures that file and returns the instance of `home`, without touching
  the process environment. Where the file keeps Dagster's default SQLite storage, the instance
  writes its event log through `PooledSqliteEventLogStorage`: the same files and schema (the UI
  and the daemon read them as before), but one pooled connection per database instead of a new
  engine, connection and fsync'd commit per event (`PRAGMA synchronous=NORMAL` in WAL mode: a
  power cut may lose the last events, never corrupt the file). A `q2c run` stores a few thousand
  events (the dbt tests' checks), so this is most of its fixed cost (bench/RESULTS.md).
- `python -m orchestration.instance DIR` ensures the file (the Makefile's `dev` target runs it
  before `dagster dev`).
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import sqlalchemy as sa
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData

LOCAL_DAGSTER_YAML = """\
# Written by q2c (orchestration/instance.py) for the local instance; edit freely, q2c never
# overwrites it. deploy/dagster.yaml is the PostgreSQL-backed instance for a deployment.
telemetry:
  enabled: false

# DuckDB allows one writing process: every step that writes the warehouse runs in the
# `warehouse` pool, and a pool gets one slot unless set otherwise
# (`dagster instance concurrency set warehouse N` on PostgreSQL, where writers may overlap).
concurrency:
  pools:
    granularity: op
    default_limit: 1
  runs:
    max_concurrent_runs: 4

# q2c's own log records during a run go to the run's event log as well, masked like every
# record of the process (orchestration/log_masking.py)
python_logs:
  managed_python_loggers: [q2c, extractors, orchestration]
  python_log_level: INFO

# schedule and sensor ticks are kept for a while, not forever
retention:
  schedule:
    purge_after_days: 30
  sensor:
    purge_after_days:
      skipped: 7
      failure: 30
      success: 30
"""


def ensure_instance_config(home: Path) -> Path:
    """`home/dagster.yaml`, written with `LOCAL_DAGSTER_YAML` when absent."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    if not path.exists():
        path.write_text(LOCAL_DAGSTER_YAML)
    return path


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log with one pooled connection per database (see the module doc).

    Dagster's own class opens a new engine and connection for every event it stores and
    commits it with a full fsync. This one keeps an engine per shard (the run's database and the
    index), at most `MAX_SHARDS` of them, and sets `synchronous=NORMAL` on each connection
    (WAL mode, which Dagster sets: durable across a crash of the process)."""

    #: run databases kept open (least recently used closed first); the index is one of them
    MAX_SHARDS = 8

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, sa.Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
        super().__init__(base_dir, inst_data=inst_data)

    def _engine(self, shard: str) -> sa.Engine:
        with self._engines_lock:
            engine = self._engines.pop(shard, None)
            if engine is None:
                engine = sa.create_engine(
                    self.conn_string_for_shard(shard),
                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
                )
                sa.event.listen(engine, "connect", _synchronous_normal)
            self._engines[shard] = engine
            while len(self._engines) > self.MAX_SHARDS:
                self._engines.popitem(last=False)[1].dispose()
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Any]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _dispose_engines(self) -> None:
        with self._engines_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()

    def wipe(self) -> None:
        self._dispose_engines()  # the run databases are deleted: no connection may outlive them
        super().wipe()

    def dispose(self) -> None:
        self._dispose_engines()
        super().dispose()


def _synchronous_normal(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class PooledSqliteStorage(DagsterSqliteStorage):
    """Dagster's default SQLite storage with `PooledSqliteEventLogStorage` as its event log."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        super().__init__(base_dir, inst_data=inst_data)
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData, config_value: Any
    ) -> PooledSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)


def pooled_instance_ref(ref: InstanceRef) -> InstanceRef:
    """`ref` with `PooledSqliteStorage` where it has Dagster's default SQLite storage (an
    operator's PostgreSQL or custom storage is left as it is)."""
    data = ref.storage_data
    if data is None or (data.module_name, data.class_name) != (
        DagsterSqliteStorage.__module__,
        DagsterSqliteStorage.__name__,
    ):
        return ref
    pooled = ConfigurableClassData(__name__, PooledSqliteStorage.__name__, data.config_yaml)
    return ref._replace(storage_data=pooled)


def open_instance(home: Path) -> dg.DagsterInstance:
    """The persistent Dagster instance in `home` (its `dagster.yaml` ensured first), its SQLite
    event log pooled (`pooled_instance_ref`)."""
    ensure_instance_config(home)
    return dg.DagsterInstance.from_ref(pooled_instance_ref(InstanceRef.from_dir(str(home))))


if __name__ == "__main__":
    print(ensure_instance_config(Path(sys.argv[1])))
