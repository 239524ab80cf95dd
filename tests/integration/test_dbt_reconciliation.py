"""rec_* against the world's ground truth at S: every injected discrepancy is found with the
right kind and ids (recall 100%), and no break is reported that the world did not inject
(precision 100%). The warehouse is loaded by the test loader (tests/support/raw_from_world.py)
and built once per session on DuckDB.

How truth rows and breaks are compared: per kind, the truth's ids that must equal the break's
`source_object_id` (and `target_object_id` where the break names the other side).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import duckdb
import pytest

from tests.support.raw_from_world import built_warehouse

pytestmark = pytest.mark.integration

# kind -> (truth key for source_object_id, truth key for target_object_id or None)
KEYS: dict[str, tuple[str, str | None]] = {
    "erp_invoice_missing": ("invoice", None),
    "erp_amount_mismatch": ("invoice", "erp_transaction"),
    "erp_currency_mismatch": ("invoice", "erp_transaction"),
    "erp_wrong_period": ("invoice", "erp_transaction"),
    "erp_duplicate_posting": ("invoice", "erp_duplicate"),
    "erp_payment_unapplied": ("charge", "erp_payment"),
    "erp_refund_missing": ("refund", None),
    "payout_sum_mismatch": ("payout", None),
    "payout_not_posted": ("payout", None),
    "crm_billing_status_stale": ("customer", "account"),
    "deal_without_subscription": ("opportunity", None),
    "subscription_without_deal": ("subscription", None),
    "customer_without_account": ("customer", None),
    "customer_linked_to_deleted_account": ("customer", "account"),
    "event_duplicate": ("duplicate_of", "event"),
    "event_out_of_order": ("event", None),
    "event_late": ("event", None),
    "case_dunning_without_priority": ("case", None),
    "payout_to_unverified_account": ("account", "payout"),
    "invalid_eu_vat": ("customer", None),
}


def truth_keys(world_dir: Path) -> set[tuple[str, str, str | None]]:
    """(kind, source id, target id) of every injected discrepancy."""
    con = sqlite3.connect(world_dir / "truth.sqlite")
    try:
        rows = con.execute("select kind, object_ids from discrepancies").fetchall()
    finally:
        con.close()
    out = set()
    for kind, object_ids in rows:
        ids = json.loads(object_ids)
        source_key, target_key = KEYS[kind]
        out.add((kind, str(ids[source_key]), str(ids[target_key]) if target_key else None))
    return out


def break_keys(db_path: Path) -> set[tuple[str, str, str | None]]:
    """(kind, source id, target id) of every reported break."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        rows = con.execute(
            "select break_kind, source_object_id, target_object_id"
            " from reconciliation.rec_breaks"
        ).fetchall()
    finally:
        con.close()
    return {(k, s, t if KEYS[k][1] else None) for k, s, t in rows}


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
