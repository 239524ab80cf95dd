"""`run_assets` reports progress from the run's event log while the run executes, reading only
the materializations stored since its last look; without a callback nothing watches."""

from __future__ import annotations

import time
from pathlib import Path

import dagster as dg
import pytest

from orchestration.commands.run import run_assets
from orchestration.instance import open_instance

pytestmark = pytest.mark.unit


def _slow(name: str) -> dg.AssetsDefinition:
    @dg.asset(name=name)
    def _asset() -> None:
        time.sleep(0.4)

    return _asset


def test_progress_counts_each_materialization_once_as_the_run_goes(tmp_path: Path) -> None:
    defs = dg.Definitions(assets=[_slow("a"), _slow("b"), _slow("c")])
    progress: list[tuple[int, int, str]] = []
    with open_instance(tmp_path / "dagster") as instance:
        summary = run_assets(
            defs,
            instance,
            on_progress=lambda d, t, s: progress.append((d, t, s)),
            poll_seconds=0.05,
        )
    assert summary.success and len(summary.assets) == 3
    during = [p for p in progress if p[2]]  # the final call names no asset
    assert [d for d, _, _ in during] == sorted({d for d, _, _ in during})  # never counted twice
    assert during and during[-1][:2] == (3, 3) and during[0][0] < 3  # seen while running
    assert progress[-1] == (3, 3, "")


def test_without_a_callback_no_thread_watches_the_run(tmp_path: Path, monkeypatch) -> None:
    import threading

    started: list[str] = []
    real_start = threading.Thread.start

    def start(self: threading.Thread) -> None:
        started.append(self.name)
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    with open_instance(tmp_path / "dagster") as instance:
        summary = run_assets(dg.Definitions(assets=[_slow("a")]), instance)
    assert summary.success
    assert "q2c-run-progress" not in started
