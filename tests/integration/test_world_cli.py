"""`python -m sandbox.world` generates and advances a world from the command line."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandbox.world", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_generates_then_advances_a_world(tmp_path: Path) -> None:
    gen = run("generate", "--dir", str(tmp_path), "--scale", "XS", "--seed", "3")
    assert gen.returncode == 0, gen.stderr
    assert "billing" in gen.stdout and "discrepancies" in gen.stdout
    meta = dict(sqlite3.connect(tmp_path / "billing.sqlite").execute("SELECT * FROM meta"))
    assert meta["seed"] == "3" and meta["scale"] == "XS"
    adv = run("advance", "--dir", str(tmp_path), "--days", "1")
    assert adv.returncode == 0, adv.stderr
    after = dict(sqlite3.connect(tmp_path / "erp.sqlite").execute("SELECT * FROM meta"))
    assert int(after["now"]) == int(meta["now"]) + 86_400


def test_cli_rejects_an_unknown_scale(tmp_path: Path) -> None:
    bad = run("generate", "--dir", str(tmp_path), "--scale", "XXL")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
