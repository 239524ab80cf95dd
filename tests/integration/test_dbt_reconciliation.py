"""rec_* against the world's ground truth at S: every injected discrepancy is found with the
right kind and ids (recall 100%), and no break is reported that the world did not inject
(precision 100%). The warehouse is loaded by the test loader (tests/support/raw_from_world.py)
and built once per session on DuckDB.

How truth rows and breaks are compared: per kind, the truth's ids that must equal the break's
`source_object_id` (and `target_object_id` where the break names the other side); and where
the truth's `detail` records amounts and currencies (tests/support/reconciliation_truth.py
`AMOUNTS`), the break must carry the same ones, exactly.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.support.raw_from_world import built_warehouse
from tests.support.reconciliation_truth import (
    break_amounts,
    break_keys,
    truth_amounts,
    truth_keys,
)

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
