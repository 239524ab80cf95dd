"""Billing extraction against a generated S world served by the billing stand-in (real HTTP).

The story, in module-scoped steps over one copy of the world and one DuckDB warehouse:
first run -> landed objects equal the world's listing (truth.counts and the bodies); second run
-> nothing new; `advance(1)` -> the next run lands exactly the changed objects; a full re-list
-> nothing new either.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from extractors.billing import (
    BillingClient,
    BillingCredentials,
    BillingExtractor,
    ExtractResult,
    RetrySettings,
    extract_billing,
)
from q2c.warehouse import Warehouse

pytestmark = pytest.mark.integration

FAST_RETRY = RetrySettings(
    sdk_max_network_retries=0, attempts=12, wait_initial=0.01, wait_max=0.05, timeout=5
)


# -- helpers shared by the billing integration tests ------------------------------------------


def copy_world(src: Path, dst: Path) -> Path:
    """A private copy of a generated world (tests that advance it must not touch the shared one)."""
    shutil.copytree(src, dst)
    return dst


def world_listing(world_dir: Path) -> dict[str, dict[str, Any]]:
    """What a full listing returns now: live (not deleted) bodies by object type and id.

    Events only within the listable window (the world's `now` minus 30 days).
    """
    con = sqlite3.connect(world_dir / "billing.sqlite")
    try:
        (now,) = con.execute("select value from meta where key = 'now'").fetchone()
        out: dict[str, dict[str, Any]] = {}
        for obj, oid, body in con.execute(
            "select object, id, body from objects where deleted = 0"
            " and (object != 'event' or created >= ?)",
            [int(now) - 30 * 86_400],
        ):
            out.setdefault(obj, {})[oid] = json.loads(body)
        return out
    finally:
        con.close()


def truth_counts(world_dir: Path) -> dict[str, int]:
    con = sqlite3.connect(world_dir / "truth.sqlite")
    try:
        return {
            o: n for o, n in con.execute("select object, n from counts where system = 'billing'")
        }
    finally:
        con.close()


def landed_latest(wh: Warehouse, table: str) -> dict[str, tuple[bool, Any]]:
    """object_id -> (is_deleted, payload) of the latest version in `raw.billing__<table>`."""
    if not wh.table_exists("raw", f"billing__{table}"):
        return {}
    rows = wh.fetchall(
        "select object_id, is_deleted, payload from (select object_id, is_deleted, payload,"
        " row_number() over (partition by object_id order by extracted_at desc,"
        f" is_deleted desc) as rn from raw.billing__{table}) latest where rn = 1"
    )
    return {r[0]: (bool(r[1]), json.loads(r[2]) if isinstance(r[2], str) else r[2]) for r in rows}


def landed_live(wh: Warehouse, table: str) -> dict[str, Any]:
    return {k: p for k, (deleted, p) in landed_latest(wh, table).items() if not deleted}


def table_fingerprint(wh: Warehouse) -> dict[str, set[tuple[str, str, bool]]]:
    """Every raw billing table as a set of (object_id, payload_hash, is_deleted)."""
    tables = [
        r[0]
        for r in wh.fetchall(
            "select table_name from information_schema.tables where table_schema = 'raw'"
            " and table_name like 'billing__%'"
        )
    ]
    return {
        t: {
            (r[0], r[1], bool(r[2]))
            for r in wh.fetchall(f"select object_id, payload_hash, is_deleted from raw.{t}")
        }
        for t in tables
    }


def run_billing(
    env: dict[str, str],
    wh_url: str,
    run_id: str,
    *,
    retry: RetrySettings = FAST_RETRY,
    **kwargs: Any,
) -> list[ExtractResult]:
    client = BillingClient(
        BillingCredentials(env["Q2C_BILLING_API_BASE"], env["Q2C_BILLING_API_KEY"]), retry
    )
    with Warehouse.from_url(wh_url) as wh:
        return extract_billing(client, wh, run_id=run_id, batch_size=500, **kwargs)


def landed_ids(results: list[ExtractResult], wh: Warehouse, run_id: str) -> set[tuple[str, str]]:
    """(table, object_id) of every row stored by `run_id`."""
    out: set[tuple[str, str]] = set()
    for table in {t for r in results for t in r.tables}:
        if wh.table_exists("raw", f"billing__{table}"):
            for (oid,) in wh.fetchall(
                f"select object_id from raw.billing__{table} where run_id = ?", [run_id]
            ):
                out.add((table, oid))
    return out


# -- the story ---------------------------------------------------------------------------------


@dataclass
class Story:
    world: Path
    env: dict[str, str]
    wh_url: str
    #: a copy of the warehouse as it was just before the run after the advance
    before_advanced_run: Path | None = None


@pytest.fixture(scope="module")
def story(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    from sandbox.services import start_services

    root = tmp_path_factory.mktemp("billing_story")
    world = copy_world(world_s, root / "world")
    sandbox = start_services(world, None, root / "state", services=("billing",))
    try:
        yield Story(world, dict(sandbox.env), f"duckdb:///{root / 'wh.duckdb'}")
    finally:
        sandbox.stop()


@pytest.fixture(scope="module")
def first_run(story: Story) -> list[ExtractResult]:
    return run_billing(story.env, story.wh_url, "run-1")


@pytest.fixture(scope="module")
def second_run(story: Story, first_run: list[ExtractResult]) -> list[ExtractResult]:
    return run_billing(story.env, story.wh_url, "run-2")


@pytest.fixture(scope="module")
def advanced_run(
    story: Story, second_run: list[ExtractResult]
) -> tuple[list[ExtractResult], dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    from sandbox import world as world_mod

    before = world_listing(story.world)
    world_mod.advance(story.world, 1)
    after = world_listing(story.world)
    warehouse = Path(story.wh_url.removeprefix("duckdb:///"))
    story.before_advanced_run = shutil.copy(warehouse, warehouse.with_name("before-run-3.duckdb"))
    return run_billing(story.env, story.wh_url, "run-3"), before, after


def test_first_run_lands_as_many_live_objects_as_the_world_lists(
    story: Story, first_run: list[ExtractResult]
) -> None:
    counts = truth_counts(story.world)
    assert counts, "the world has no billing counts"
    with Warehouse.from_url(story.wh_url) as wh:
        landed = {obj: len(landed_live(wh, obj)) for obj in counts}
    assert landed == counts


def test_first_run_lands_every_body_exactly_as_the_api_serves_it(
    story: Story, first_run: list[ExtractResult]
) -> None:
    listing = world_listing(story.world)
    with Warehouse.from_url(story.wh_url) as wh:
        for obj, bodies in listing.items():
            assert landed_live(wh, obj) == bodies, obj


def test_first_run_lands_what_each_payout_settled(
    story: Story, first_run: list[ExtractResult]
) -> None:
    con = sqlite3.connect(story.world / "billing.sqlite")
    expected = {
        f"{payout}:{txn}"
        for payout, txn in con.execute(
            "select payout, id from objects where object = 'balance_transaction'"
            " and payout is not null and deleted = 0"
        )
    }
    con.close()
    assert expected
    with Warehouse.from_url(story.wh_url) as wh:
        assert set(landed_live(wh, "payout_balance_transaction")) == expected


def test_first_run_quarantines_nothing_from_a_healthy_world(first_run: list[ExtractResult]) -> None:
    assert sum(r.quarantined for r in first_run) == 0
    assert all(r.complete for r in first_run)


def test_second_run_lands_nothing_new(second_run: list[ExtractResult]) -> None:
    assert sum(r.landed for r in second_run) == 0
    assert sum(r.duplicates for r in second_run) > 0


def test_second_run_keeps_every_cursor(
    first_run: list[ExtractResult], second_run: list[ExtractResult]
) -> None:
    assert {r.name: r.cursor_after for r in second_run} == {
        r.name: r.cursor_after for r in first_run
    }


def test_after_advancing_a_day_the_run_lands_exactly_the_changed_objects(
    story: Story, advanced_run: tuple[list[ExtractResult], dict, dict]
) -> None:
    results, before, after = advanced_run
    changed: set[tuple[str, str]] = set()
    for obj in set(before) | set(after):
        old, new = before.get(obj, {}), after.get(obj, {})
        if obj == "event":
            changed |= {(obj, i) for i in set(new) - set(old)}
            continue
        changed |= {(obj, i) for i in set(new) | set(old) if old.get(i) != new.get(i)}
    assert changed, "advancing a day changed nothing in the world"
    with Warehouse.from_url(story.wh_url) as wh:
        landed = {
            (t, oid)
            for t, oid in landed_ids(results, wh, "run-3")
            if t != "payout_balance_transaction"
        }
    assert landed == changed


def test_after_advancing_a_day_the_landed_data_equals_the_world(
    story: Story, advanced_run: tuple[list[ExtractResult], dict, dict]
) -> None:
    _, _, after = advanced_run
    with Warehouse.from_url(story.wh_url) as wh:
        for obj, bodies in after.items():
            if obj == "event":
                assert set(bodies) <= set(landed_live(wh, obj))
                continue
            assert landed_live(wh, obj) == bodies, obj


def test_after_advancing_concurrent_re_reads_land_what_one_at_a_time_re_reads_land(
    story: Story, advanced_run: tuple[list[ExtractResult], dict, dict], tmp_path: Path
) -> None:
    """The events' targeted re-reads on 6 threads land the same rows, in the same order, with
    the same counts and cursor, as on one thread (from the same warehouse, same API state)."""

    def events_with(workers: int) -> tuple[Any, ...]:
        assert story.before_advanced_run is not None
        wh_path = shutil.copy(story.before_advanced_run, tmp_path / f"wh-{workers}.duckdb")
        client = BillingClient(
            BillingCredentials(story.env["Q2C_BILLING_API_BASE"], story.env["Q2C_BILLING_API_KEY"]),
            FAST_RETRY,
        )
        with (
            Warehouse.from_url(f"duckdb:///{wh_path}") as wh,
            BillingExtractor(
                client, wh, run_id="re-reads", batch_size=500, list_workers=workers
            ) as extractor,
        ):
            result = extractor.extract_events()
            rows = {
                t: wh.fetchall(
                    f"select object_id, provider_ref, payload_hash, is_deleted from raw.{t}"
                    " where run_id = 're-reads' order by rowid"
                )
                for t in table_fingerprint(wh)
            }
            counts = {n: (s.landed, s.duplicates, s.quarantined) for n, s in result.tables.items()}
            return rows, counts, result.objects_reread, result.cursor_after, client.api_calls

    one, six = events_with(1), events_with(6)
    assert six == one
    assert one[2] > 12  # more re-reads than the six threads hold ahead of the writer


def test_a_full_relist_after_the_advance_lands_nothing_new(
    story: Story, advanced_run: tuple[list[ExtractResult], dict, dict]
) -> None:
    results = run_billing(story.env, story.wh_url, "run-4", mode="full")
    assert sum(r.landed for r in results) == 0
