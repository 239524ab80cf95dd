"""Two `q2c run`s over the S world (the session's shared pair): the first dbt build rebuilds the
incremental models in full (no build recorded yet), the second is incremental; both recorded in
`ops.dbt_builds` with the same project digest (orchestration/assets/dbt.py, q2c/dbt_refresh.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.support.pipeline import private_copy

pytestmark = pytest.mark.e2e


def test_first_run_rebuilds_in_full_and_the_second_is_incremental(
    s_pipeline_runs: dict[str, Any], tmp_path: Path
) -> None:
    runs = private_copy(s_pipeline_runs, tmp_path)
    con = duckdb.connect(str(runs["warehouse"]), read_only=True)
    try:
        builds = con.execute(
            "select run_id, full_refresh, reason, project_digest from ops.dbt_builds"
            " order by built_at"
        ).fetchall()
        materialized = con.execute("select count(*) from staging.stg_billing__invoices").fetchone()
    finally:
        con.close()
    assert [(b[0], b[1], b[2]) for b in builds] == [
        (runs["first"].run_id, True, "no earlier build recorded"),
        (runs["second"].run_id, False, None),
    ]
    assert builds[0][3] == builds[1][3]
    assert materialized[0] > 0
    assert any(
        "dbt build with --full-refresh: no earlier build recorded" in m for m in runs["logs"]
    )
