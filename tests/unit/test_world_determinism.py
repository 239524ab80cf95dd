"""Same (seed, scale, now) gives the same bytes; truth.counts equal the rows a listing returns."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from sandbox.world import SCALES, generate
from sandbox.world.config import DAY, EVENT_LISTABLE_DAYS

pytestmark = pytest.mark.unit

TABLES = {
    "billing": ["objects", "meta"],
    "salesforce": ["records", "meta"],
    "erp": [
        "subsidiary",
        "currency",
        "account",
        "accountingperiod",
        "customer",
        "transaction",
        "transactionline",
        "previoustransactionlinelink",
        "meta",
    ],
    "truth": ["discrepancies", "counts", "changes", "pii", "meta"],
}


def world_digest(d: Path) -> str:
    """sha256 over every row of every table of the four files, rows in sorted order."""
    h = hashlib.sha256()
    for name, tables in TABLES.items():
        con = sqlite3.connect(d / f"{name}.sqlite")
        for table in tables:
            h.update(table.encode())
            for row in sorted(repr(r) for r in con.execute(f'SELECT * FROM "{table}"')):
                h.update(row.encode())
        con.close()
    return h.hexdigest()


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    xs = SCALES["XS"]
    generate(tmp_path / "a", seed=3, scale=xs)
    generate(tmp_path / "b", seed=3, scale=xs)
    generate(tmp_path / "c", seed=4, scale=xs)
    assert world_digest(tmp_path / "a") == world_digest(tmp_path / "b")
    assert world_digest(tmp_path / "a") != world_digest(tmp_path / "c")


def test_same_seed_gives_identical_bytes_in_processes_with_other_hash_seeds(
    tmp_path: Path,
) -> None:
    # set and dict-of-set orders follow PYTHONHASHSEED, which differs between processes
    for hash_seed in ("1", "2"):
        subprocess.run(
            [sys.executable, "-m", "sandbox.world", "generate", "--dir",
             str(tmp_path / hash_seed), "--scale", "XS", "--seed", "3"],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )  # fmt: skip
    assert world_digest(tmp_path / "1") == world_digest(tmp_path / "2")


def test_truth_counts_equal_the_listable_rows(tmp_path: Path) -> None:
    summary = generate(tmp_path, seed=5, scale=SCALES["XS"])
    truth = dict(
        ((s, o), n)
        for s, o, n in sqlite3.connect(tmp_path / "truth.sqlite").execute(
            "SELECT system, object, n FROM counts"
        )
    )
    assert truth == summary.counts
    actual: Counter[tuple[str, str]] = Counter()
    b = sqlite3.connect(tmp_path / "billing.sqlite")
    cutoff = summary.now - EVENT_LISTABLE_DAYS * DAY
    for obj, created in b.execute("SELECT object, created FROM objects WHERE deleted=0"):
        if obj != "event" or created >= cutoff:
            actual[("billing", obj)] += 1
    s = sqlite3.connect(tmp_path / "salesforce.sqlite")
    for sobject, deleted in s.execute("SELECT sobject, is_deleted FROM records"):
        actual[("salesforce", sobject)] += 1
        if not deleted:
            actual[("salesforce", sobject + ":live")] += 1
    e = sqlite3.connect(tmp_path / "erp.sqlite")
    for table in TABLES["erp"][:-1]:
        actual[("erp", table)] = e.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    assert {k: v for k, v in truth.items() if v} == dict(actual)
