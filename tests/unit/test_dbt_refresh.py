"""When a dbt build rebuilds the incremental models in full (q2c/dbt_refresh.py), on DuckDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from q2c.audit.trail import ensure_audit_table
from q2c.dbt_refresh import full_refresh_reason, project_digest, record_build
from q2c.warehouse import Warehouse

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)


def reason(wh: Warehouse, now: datetime = NOW, digest: str = "d1", days: int = 7) -> str | None:
    return full_refresh_reason(wh, digest=digest, every_days=days, now=now)


def test_full_refresh_first_then_incremental_until_cadence_change_or_erasure(tmp_path: Path):
    with Warehouse.from_url(f"duckdb:///{tmp_path / 'wh.duckdb'}") as wh:
        assert reason(wh) == "no earlier build recorded"
        record_build(wh, full_refresh=True, reason="x", digest="d1", run_id="r1", now=NOW)
        assert reason(wh, NOW + timedelta(days=1)) is None
        assert full_refresh_reason(wh, digest="d1", every_days=7, now=NOW, requested=True)
        # an incremental build does not restart the cadence
        record_build(wh, full_refresh=False, reason=None, digest="d1", run_id="r2", now=NOW)
        assert reason(wh, NOW + timedelta(days=7)) == "periodic full refresh (every 7 days)"
        assert reason(wh, NOW + timedelta(days=1), days=0) is not None
        assert reason(wh, NOW + timedelta(days=1), digest="d2") == (
            "the dbt project or its vars changed"
        )
        ensure_audit_table(wh)
        wh.execute(
            "insert into ops.audit_trail (recorded_at, run_id, actor, action)"
            " values (?, 'forget-1', 'q2c forget', 'erased')",
            [NOW + timedelta(hours=1)],
        )
        assert reason(wh, NOW + timedelta(days=1)) == "an erasure rewrote raw payloads"
        record_build(
            wh,
            full_refresh=True,
            reason="e",
            digest="d1",
            run_id="r3",
            now=NOW + timedelta(hours=2),
        )
        assert reason(wh, NOW + timedelta(days=1)) is None


def test_project_digest_follows_staging_macros_and_vars(tmp_path: Path):
    (tmp_path / "models" / "staging").mkdir(parents=True)
    (tmp_path / "macros").mkdir()
    (tmp_path / "dbt_project.yml").write_text("name: q2c\n")
    model = tmp_path / "models" / "staging" / "stg_a.sql"
    model.write_text("select 1 as a")
    first = project_digest(tmp_path, {"v": 1})
    assert project_digest(tmp_path, {"v": 1}) == first
    assert project_digest(tmp_path, {"v": 2}) != first
    model.write_text("select 2 as a")
    assert project_digest(tmp_path, {"v": 1}) != first
