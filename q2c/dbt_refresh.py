"""When a `dbt build` must rebuild the incremental models in full, and the record of builds.

The staging models are incremental (dbt_project/macros/latest_version.sql): a build reads only
the objects landed since the last one. That is only equal to a full build while the project
that computed the kept rows is the one building now and raw tables are append-only. So a build
is a full refresh (`dbt build --full-refresh`) when any of these holds, checked in this order:
- it is requested (`q2c run --full-refresh`, the Dagster run tag `q2c/full_refresh`);
- no build is recorded in `ops.dbt_builds` yet (a warehouse built before this record);
- the project's digest differs from the last recorded build's (`project_digest`: the staging
  models, every macro, dbt_project.yml and the dbt vars of the contract): a changed model or
  mapping rebuilds instead of leaving rows computed the old way (dbt's own
  `on_schema_change: fail` only sees a changed column list);
- the last full refresh is `every_days` days old or more (Settings `dbt_full_refresh_days`,
  `Q2C_DBT_FULL_REFRESH_DAYS`, default 7; 0: every build is a full refresh);
- an erasure (`q2c forget`, an `erased` event in `ops.audit_trail`) was recorded after the last
  full refresh: it rewrote raw payloads in place, which the landing watermark cannot see
  (the erasure redacted staging itself; the rebuild makes staging equal raw again).
`record_build` appends one row per whole-project build that succeeded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from q2c.warehouse import Warehouse

BUILDS_TABLE = "ops.dbt_builds"
#: What the kept rows of an incremental model depend on, under the dbt project directory.
DIGEST_PATHS = ("dbt_project.yml", "macros", "models/staging")


def hash_files(digest: Any, root: Path, names: Sequence[str]) -> None:
    """Feed `digest` the relative path and bytes of each file under `root` named by `names`
    (a file or a directory, recursively, in sorted order; a missing name adds nothing)."""
    for name in names:
        top = root / name
        if top.is_file():
            files = [top]
        else:
            files = sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else []
        for path in files:
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")


def project_digest(project_dir: Path, dbt_vars: Mapping[str, Any] | None = None) -> str:
    """sha256 of the files the incremental models are computed from, and of the dbt vars."""
    digest = hashlib.sha256()
    hash_files(digest, project_dir, DIGEST_PATHS)
    digest.update(json.dumps(dict(dbt_vars or {}), sort_keys=True, default=str).encode())
    return digest.hexdigest()


def ensure_builds_table(wh: Warehouse) -> None:
    """Create `ops.dbt_builds` if missing."""
    wh.ensure_schema("ops")
    wh.execute(
        f"create table if not exists {BUILDS_TABLE} (built_at timestamptz not null,"
        " full_refresh boolean not null, reason text, project_digest text not null,"
        " run_id text not null)"
    )


def _table_exists(wh: Warehouse, schema: str, table: str) -> bool:
    return bool(
        wh.fetchone(
            "select 1 from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        )
    )


def full_refresh_reason(
    wh: Warehouse,
    *,
    digest: str,
    every_days: int,
    now: datetime,
    requested: bool = False,
) -> str | None:
    """Why the next whole build must be a full refresh (see the module doc), or None."""
    if requested:
        return "requested"
    ensure_builds_table(wh)
    last = wh.fetchone(f"select project_digest from {BUILDS_TABLE} order by built_at desc limit 1")
    if last is None:
        return "no earlier build recorded"
    if last[0] != digest:
        return "the dbt project or its vars changed"
    (last_full,) = wh.fetchone(f"select max(built_at) from {BUILDS_TABLE} where full_refresh")
    if every_days <= 0 or last_full is None or now - last_full >= timedelta(days=every_days):
        return f"periodic full refresh (every {every_days} days)"
    if _table_exists(wh, "ops", "audit_trail") and wh.fetchone(
        "select 1 from ops.audit_trail where action = 'erased' and recorded_at > ? limit 1",
        [last_full],
    ):
        return "an erasure rewrote raw payloads"
    return None


def record_build(
    wh: Warehouse,
    *,
    full_refresh: bool,
    reason: str | None,
    digest: str,
    run_id: str,
    now: datetime,
) -> None:
    """Append the record of one successful whole-project build."""
    ensure_builds_table(wh)
    wh.execute(
        f"insert into {BUILDS_TABLE} (built_at, full_refresh, reason, project_digest, run_id)"
        " values (?, ?, ?, ?, ?)",
        [now, full_refresh, reason, digest, run_id],
    )
