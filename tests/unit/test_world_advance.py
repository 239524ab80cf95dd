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
from sandbox.world.crm import sf_datetime
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


def test_a_status_change_synced_after_the_day_ends_is_stale_until_the_next_day(
    tmp_path: Path, worlds
) -> None:
    """The CRM's copy of a billing status follows CRM_SYNC_LAG after the change: a change in
    the day's last minutes is not in the CRM at the day's end (truth: stale, sync pending),
    and the next day's sync writes it as the integration user and ends that truth row."""
    before_dir, _, _, _ = worlds
    d = tmp_path / "w"
    copy_world(before_dir, d)
    b, s, t = (sqlite3.connect(d / f"{n}.sqlite") for n in ("billing", "salesforce", "truth"))
    meta = dict(t.execute("SELECT key, value FROM meta"))
    now, integration = int(meta["now"]), json.loads(meta["state"])["users"]["integration"]
    stale = {
        json.loads(i)["account"]
        for (i,) in t.execute(
            "SELECT object_ids FROM discrepancies WHERE kind='crm_billing_status_stale'"
        )
    }
    accounts = {
        body["Billing_Customer_Id__c"]: body
        for body in (
            json.loads(r[0])
            for r in s.execute(
                "SELECT body FROM records WHERE sobject='Account' AND is_deleted=0 ORDER BY id"
            )
        )
        if body["Billing_Customer_Id__c"] and body["Id"] not in stale
    }
    sub = next(
        sub
        for sub in (
            json.loads(r[0])
            for r in b.execute(
                "SELECT body FROM objects WHERE object='subscription' AND status='active'"
                " ORDER BY id"
            )
        )
        if sub["customer"] in accounts
        and accounts[sub["customer"]]["Billing_Status__c"] == "active"
    )
    account = accounts[sub["customer"]]["Id"]
    # it ends (cancelled at period end) two minutes before the first advanced day ends
    end = now + DAY - 120
    sub.update(current_period_end=end, cancel_at_period_end=True)
    b.execute("UPDATE objects SET body=? WHERE id=?", (json.dumps(sub), sub["id"]))
    b.commit()
    for con in (b, s, t):
        con.close()

    def state() -> tuple[dict, list[dict]]:
        body = json.loads(
            sqlite3.connect(d / "salesforce.sqlite")
            .execute("SELECT body FROM records WHERE id=?", (account,))
            .fetchone()[0]
        )
        rows = [
            json.loads(detail)
            for ids, detail in sqlite3.connect(d / "truth.sqlite").execute(
                "SELECT object_ids, detail FROM discrepancies WHERE kind='crm_billing_status_stale'"
            )
            if json.loads(ids)["account"] == account
        ]
        return body, rows

    advance(d, 1)
    body, rows = state()
    assert body["Billing_Status__c"] == "active"
    assert rows == [{"crm_status": "active", "billing_status": "canceled", "sync_due": end + 600}]
    advance(d, 1)
    body, rows = state()
    assert body["Billing_Status__c"] == "canceled" and not rows
    assert body["LastModifiedById"] == integration
    assert body["SystemModstamp"] == sf_datetime(end + 600)
