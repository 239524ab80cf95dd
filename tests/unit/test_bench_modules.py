"""Every benchmark under bench/ still imports and parses its options.

Benchmarks print figures and are not run by the suite, so an import that rots (a moved helper,
a renamed function) would go unnoticed until someone needs the figures. `--help` imports the
module and builds its argument parser without running anything.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = sorted(
    info.name
    for info in pkgutil.iter_modules([str(ROOT / "bench")])
    if not info.name.startswith("_")
)


def test_there_are_benchmarks() -> None:
    assert {"dbt_build", "sandbox_salesforce", "world_generation"} <= set(BENCHMARKS)


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_answers_help(name: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "usage:" in proc.stdout
