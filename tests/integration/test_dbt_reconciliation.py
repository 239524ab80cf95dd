"""rec_* against the world's ground truth at S: every injected discrepancy is found with the
right kind and ids (recall 100%), and no break is reported that the world did not inject
(precision 100%). The warehouse is loaded by the test loader (tests/support/raw_from_world.py)
and built once per session on DuckDB.

How truth rows and breaks are compared: per kind, the truth's ids that must equal the break's
`source_object_id` (and `target_object_id` where the break names the other side); and where
the truth's `detail` records amounts and currencies (tests/support/reconciliation_truth.py
`AMOUNTS`), the break must carry the same ones, exactly.

The same holds on a world whose clock `advance` moved on: the advanced days renew, retry,
refund and pay out, the CRM's copy of billing statuses follows, and the truth drops the
discrepancies those days ended (a dunning case whose invoice got paid).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import pytest

from sandbox.world import advance, generate
from tests.support.raw_from_world import built_warehouse, load_raw_from_world, run_dbt
from tests.support.reconciliation_truth import (
    break_amounts,
    break_keys,
    truth_amounts,
    truth_keys,
)
from tests.unit.test_world_advance import copy_world

ADVANCED_DAYS = 5

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def s_warehouse(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.getbasetemp() / "dbt_s_duckdb"
    db = root / "warehouse.duckdb"
    built_warehouse(world_s, f"duckdb:///{db}", root / "dbt")
    return db


def test_reconciliation_finds_every_injected_discrepancy_and_nothing_else(
    world_s: Path, s_warehouse: Path
) -> None:
    truth = truth_keys(world_s)
    found = break_keys(s_warehouse)
    misses = sorted(truth - found, key=str)
    false_positives = sorted(found - truth, key=str)
    recall = 1 - len(misses) / len(truth)
    precision = 1 - len(false_positives) / len(found) if found else 0.0
    print(f"S: truth={len(truth)} breaks={len(found)} recall={recall:.4f} prec={precision:.4f}")
    assert not misses and not false_positives, (
        f"recall {recall:.4f}, precision {precision:.4f}\n"
        + "".join(f"MISS {m}\n" for m in misses)
        + "".join(f"FALSE POSITIVE {f}\n" for f in false_positives)
    )


def test_breaks_carry_the_amounts_and_currencies_the_truth_records(
    world_s: Path, s_warehouse: Path
) -> None:
    expected = truth_amounts(world_s)
    found = break_amounts(s_warehouse)
    kinds = {key[0] for key in expected}
    wrong = []
    for key, columns in sorted(expected.items(), key=str):
        got = found.get(key)
        if got is None:
            continue  # counted below (and a precision/recall failure)
        for column, value in columns.items():
            if got[column] != value:
                wrong.append(f"{key} {column}: truth {value}, break {got[column]}")
    compared = sum(1 for key in expected if key in found)
    print(f"S: amounts compared on {compared} breaks of {len(kinds)} kinds")
    assert compared == len(expected) and len(kinds) >= 10, (compared, len(expected), kinds)
    assert not wrong, "\n".join(wrong)


def test_each_break_names_its_system_of_record_currency_and_age(s_warehouse: Path) -> None:
    con = duckdb.connect(str(s_warehouse), read_only=True)
    try:
        rows = con.execute(
            "select break_kind, count(*) filter (where system_of_record is null),"
            " count(*) filter (where age_days is null or age_days < 0),"
            " count(*) filter (where source_amount is not null and currency is null)"
            " from reconciliation.rec_breaks group by 1"
        ).fetchall()
    finally:
        con.close()
    bad = [r for r in rows if r[1] or r[2] or r[3]]
    assert rows and not bad, f"breaks without SoR / age / currency: {bad}"


@pytest.fixture(scope="module")
def advanced_s(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(generated S world, the same advanced ADVANCED_DAYS days, its built warehouse).

    Its own world (not the session's `world_s`, which the stand-ins may serve and write to).
    Data tests are left out of the build: this checks the reconciliation, and the session's
    generated world runs them.
    """
    root = tmp_path_factory.mktemp("dbt_s_advanced")
    generate(root / "generated", seed=7, scale="S")
    copy_world(root / "generated", root / "advanced")
    advance(root / "advanced", ADVANCED_DAYS)
    db = root / "warehouse.duckdb"
    url = f"duckdb:///{db}"
    load_raw_from_world(root / "advanced", url)
    models_only = ["--exclude", "resource_type:test", "resource_type:unit_test"]
    run_dbt(["build", *models_only], url, root / "dbt")
    return root / "generated", root / "advanced", db


def crm_statuses(world_dir: Path) -> dict[str, str]:
    """Account id -> Billing_Status__c of every live account."""
    con = sqlite3.connect(world_dir / "salesforce.sqlite")
    try:
        return dict(
            con.execute(
                "SELECT id, json_extract(body, '$.Billing_Status__c') FROM records"
                " WHERE sobject='Account' AND is_deleted=0"
            )
        )
    finally:
        con.close()


def test_an_advanced_world_is_reconciled_exactly(advanced_s: tuple[Path, Path, Path]) -> None:
    generated, world, db = advanced_s
    # the advanced days did what this is about: renewals sent their subscription updates,
    # the CRM's copy of changed statuses was synced, and a paid dunning invoice ended its case
    con = sqlite3.connect(world / "billing.sqlite")
    renewal_events = con.execute(
        "SELECT count(*) FROM objects WHERE object='event' AND type="
        "'customer.subscription.updated' AND json_extract(body,"
        " '$.data.previous_attributes.current_period_start') IS NOT NULL"
    ).fetchone()[0]
    con.close()
    before, after = crm_statuses(generated), crm_statuses(world)
    synced = {a for a in before if after.get(a) not in (None, before[a])}
    ended = {k for k in truth_keys(generated) if k[0] == "case_dunning_without_priority"} - {
        k for k in truth_keys(world) if k[0] == "case_dunning_without_priority"
    }
    assert renewal_events and synced and ended, (renewal_events, synced, ended)

    truth = truth_keys(world)
    found = break_keys(db)
    misses = sorted(truth - found, key=str)
    false_positives = sorted(found - truth, key=str)
    print(f"S+{ADVANCED_DAYS}d: truth={len(truth)} breaks={len(found)}")
    assert not misses and not false_positives, "".join(f"MISS {m}\n" for m in misses) + "".join(
        f"FALSE POSITIVE {f}\n" for f in false_positives
    )
    expected = truth_amounts(world)
    amounts = break_amounts(db)
    wrong = [
        f"{key}: truth {columns}, break {amounts[key]}"
        for key, columns in sorted(expected.items(), key=str)
        if any(amounts[key][c] != v for c, v in columns.items())
    ]
    assert not wrong, "\n".join(wrong)
