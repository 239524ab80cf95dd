"""`advance` adds exactly the changes it records, moves the clock, and is deterministic."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections import defaultdict
from pathlib import Path

import pytest

from sandbox.world import SCALES, advance, generate
from sandbox.world.config import DAY
from tests.unit.test_world_determinism import TABLES, world_digest

pytestmark = pytest.mark.unit

ERP_KEYS = {"transactionline": (1, 0), "previoustransactionlinelink": (0, 1, 2, 3)}


def copy_world(src: Path, dst: Path) -> None:
    """Copy the four database files (not the -wal/-shm of readers that may come and go)."""
    dst.mkdir(parents=True)
    for f in src.glob("*.sqlite"):
        shutil.copyfile(f, dst / f.name)


def snapshot(d: Path) -> dict[tuple[str, str, str], tuple]:
    """Every row of billing, Salesforce and ERP by (system, object, id)."""
    rows: dict[tuple[str, str, str], tuple] = {}
    for row in sqlite3.connect(d / "billing.sqlite").execute("SELECT * FROM objects"):
        rows[("billing", row[0], row[1])] = row
    for row in sqlite3.connect(d / "salesforce.sqlite").execute("SELECT * FROM records"):
        rows[("salesforce", row[0], row[1])] = row
    e = sqlite3.connect(d / "erp.sqlite")
    for table in TABLES["erp"][:-1]:
        key = ERP_KEYS.get(table, (0,))
        for row in e.execute(f'SELECT * FROM "{table}"'):
            rows[("erp", table, ":".join(str(row[k]) for k in key))] = row
    return rows


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict, dict]:
    base = tmp_path_factory.mktemp("adv")
    generate(base / "before", seed=9, scale=SCALES["XS"])
    copy_world(base / "before", base / "after")
    before = snapshot(base / "before")
    advance(base / "after", 2)
    return base / "before", base / "after", before, snapshot(base / "after")


def recorded_changes(d: Path) -> dict[str, set[tuple[str, str, str]]]:
    out: dict[str, set] = defaultdict(set)
    for _, system, obj, oid, change in sqlite3.connect(d / "truth.sqlite").execute(
        "SELECT * FROM changes"
    ):
        out[change].add((system, obj, oid))
    return out


def test_advance_adds_exactly_the_recorded_changes(worlds) -> None:
    _, after_dir, before, after = worlds
    changes = recorded_changes(after_dir)
    created = set(after) - set(before)
    modified = {k for k in set(after) & set(before) if after[k] != before[k]}
    assert not set(before) - set(after)  # nothing vanishes; deletions are flags
    assert created and modified
    assert changes["created"] == created
    assert (changes["updated"] | changes["deleted"]) - created == modified
    for system in ("billing", "salesforce", "erp"):
        assert any(k[0] == system for k in created), system


def test_advance_moves_the_clock_of_every_file(worlds) -> None:
    before_dir, after_dir, _, _ = worlds
    for name in ("billing", "salesforce", "erp", "truth"):
        b = dict(sqlite3.connect(before_dir / f"{name}.sqlite").execute("SELECT * FROM meta"))
        a = dict(sqlite3.connect(after_dir / f"{name}.sqlite").execute("SELECT * FROM meta"))
        assert int(a["now"]) == int(b["now"]) + 2 * DAY


def test_advanced_days_bring_new_deals_payments_payouts_and_crm_edits(worlds) -> None:
    _, after_dir, _, _ = worlds
    changes = recorded_changes(after_dir)
    created = {(s, o) for s, o, _ in changes["created"]}
    updated = {(s, o) for s, o, _ in changes["updated"]}
    for key in [
        ("billing", "customer"),
        ("billing", "invoice"),
        ("billing", "charge"),
        ("billing", "event"),
        ("salesforce", "Account"),
        ("salesforce", "Opportunity"),
        ("salesforce", "Case"),
        ("erp", "transaction"),
    ]:
        assert key in created, key
    assert ("salesforce", "Account") in updated


def test_every_created_billing_object_has_an_event_of_that_day(worlds) -> None:
    _, after_dir, before, after = worlds
    now = int(
        dict(sqlite3.connect(after_dir / "billing.sqlite").execute("SELECT * FROM meta"))["now"]
    )
    mentioned = set()
    for key, row in after.items():
        if key[1] == "event" and key not in before:
            mentioned.add(json.loads(row[10])["data"]["object"]["id"])
            assert now - 2 * DAY <= row[2] <= now
    for key in set(after) - set(before):
        if key[0] == "billing" and key[1] in (
            "customer",
            "invoice",
            "charge",
            "refund",
            "subscription",
            "transfer",
            "credit_note",
            "payout",
        ):
            assert key[2] in mentioned, key


def test_a_late_arriving_salesforce_change_is_older_than_rows_already_present(worlds) -> None:
    _, after_dir, before, after = worlds
    newest_before = max(r[2] for k, r in before.items() if k[0] == "salesforce")
    late = [
        k
        for k in set(after) & set(before)
        if k[0] == "salesforce" and after[k] != before[k] and after[k][2] < newest_before
    ]
    assert late


def test_advance_is_deterministic_and_day_by_day_equals_at_once(tmp_path: Path, worlds) -> None:
    before_dir, after_dir, _, _ = worlds
    copy_world(before_dir, tmp_path / "b")
    advance(tmp_path / "b", 1)
    advance(tmp_path / "b", 1)
    assert world_digest(tmp_path / "b") == world_digest(after_dir)


def test_advance_rejects_a_missing_world_and_zero_days(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        advance(tmp_path / "nothing", 1)
    with pytest.raises(ValueError):
        advance(tmp_path, 0)
