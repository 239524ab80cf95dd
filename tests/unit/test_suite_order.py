"""The suite's own distribution: the heavy files named in tests/conftest.py exist, and
`make test` keeps the collection order that puts them first."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import HEAVY_FIRST

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_every_heavy_file_named_exists_once() -> None:
    assert len(set(HEAVY_FIRST)) == len(HEAVY_FIRST)
    assert [p for p in HEAVY_FIRST if not (ROOT / p).is_file()] == []


def test_make_test_keeps_the_collection_order_on_its_workers() -> None:
    (line,) = [
        line for line in (ROOT / "Makefile").read_text().splitlines() if "/pytest -n" in line
    ]
    assert "--dist loadfile" in line and "--no-loadscope-reorder" in line, line
