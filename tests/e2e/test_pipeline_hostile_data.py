"""Under the `hostile` profile's data faults (2% malformed records from every stand-in), the
whole pipeline through Dagster still builds the reconciliation: the extractors quarantine the
malformed records, the input checks only warn, and every quarantined record and every child
orphaned by one is a data-quality finding in `dq_findings` and in `rec_breaks`.

Only the profile's malformed-record faults are switched on: its transport faults (20 s
timeouts, 5xx bursts, a spent API budget) are proven by the extractor tests and would only add
minutes here; they change what lands, not what the checks do with it.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orchestration.commands.run import run_assets
from sandbox.faults import profile
from tests.support.pipeline import pipeline_against

pytestmark = pytest.mark.e2e


def hostile_data_faults() -> dict[str, dict[str, Any]]:
    """The `hostile` profile's malformed-record faults of each stand-in, with its seed."""
    return {
        service: {k: v for k, v in faults.items() if k == "seed" or k.startswith("malformed")}
        for service, faults in profile("hostile").items()
    }


@pytest.fixture(scope="module")
def hostile_run(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("hostile")
    world = root / "world"
    shutil.copytree(world_s, world)
    with pipeline_against(world, root, hostile_data_faults()) as p:
        summary = run_assets(p.defs, p.instance)
    return {"summary": summary, "warehouse": p.warehouse}


def test_quarantined_records_and_their_orphans_are_findings_and_rec_breaks_is_built(
    hostile_run: dict,
) -> None:
    with duckdb.connect(str(hostile_run["warehouse"]), read_only=True) as conn:
        quarantined = conn.execute(
            "select source, object, count(*) from ops.quarantine group by 1, 2 order by 1, 2"
        ).fetchall()
        as_findings = conn.execute(
            "select source_name, source_object, count(*) from reconciliation.dq_findings "
            "where check_kind = 'quarantined' group by 1, 2 order by 1, 2"
        ).fetchall()
        orphans = conn.execute(
            "select count(*) from reconciliation.dq_findings where check_kind = 'relationships'"
        ).fetchone()[0]
        findings = conn.execute("select count(*) from reconciliation.dq_findings").fetchone()[0]
        dq_breaks = conn.execute(
            "select count(*) from reconciliation.rec_breaks where break_kind = 'data_quality'"
        ).fetchone()[0]
        other_breaks = conn.execute(
            "select count(*) from reconciliation.rec_breaks where break_kind <> 'data_quality'"
        ).fetchone()[0]
        decisions = conn.execute("select count(*) from ops.gate_decisions").fetchone()[0]
    print(f"quarantined {quarantined}, findings {findings}, orphans {orphans}")
    assert quarantined, "the hostile data faults quarantined nothing"
    # one finding per quarantined record (a record quarantined twice is one finding)
    assert [pair for *pair, _ in as_findings] == [pair for *pair, _ in quarantined]
    assert all(0 < f[2] <= q[2] for f, q in zip(as_findings, quarantined, strict=True))
    assert orphans > 0
    assert dq_breaks == findings
    assert other_breaks > 0
    assert decisions >= 4
