"""The SuiteQL subset: what it accepts, how it translates, what it refuses."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from sandbox.erp import suiteql
from sandbox.erp.app import close_open_listings, run_suiteql
from tests.support.sandbox import build_tiny_erp_world

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_erp_world(tmp_path_factory.mktemp("suiteql")) / "erp.sqlite"


def run(db: Path, q: str, limit: int = 1000, offset: int = 0) -> tuple[int, list[tuple]]:
    return run_suiteql(db, suiteql.translate(q), limit, offset)


def test_select_star_lists_columns_in_schema_order() -> None:
    tr = suiteql.translate("select * from Account")
    assert tr.columns == suiteql.TABLES["account"]
    assert tr.params == ()


def test_literals_become_parameters_never_sql_text() -> None:
    tr = suiteql.translate("SELECT id FROM customer WHERE companyname = 'x'' OR 1=1 --'")
    assert "OR 1=1" not in tr.sql
    assert tr.params == ("x' OR 1=1 --",)


def test_timestamp_literal_is_normalised_to_the_stored_form() -> None:
    tr = suiteql.translate(
        "SELECT id FROM transaction WHERE lastmodifieddate >= "
        "TO_TIMESTAMP('2026-01-02 03:04:05', 'YYYY-MM-DD HH24:MI:SS')"
    )
    assert tr.params == ("2026-01-02T03:04:05Z",)


@pytest.mark.parametrize(
    ("literal", "column", "stored"),
    [
        ("'2026-03-04'", "trandate", "2026-03-04"),
        ("'3/4/2026'", "trandate", "2026-03-04"),
        ("TO_DATE('04.03.2026', 'DD.MM.YYYY')", "trandate", "2026-03-04"),
        ("'2026-03-04'", "createddate", "2026-03-04T00:00:00Z"),
        ("'2026-03-04 10:11:12'", "lastmodifieddate", "2026-03-04T10:11:12Z"),
    ],
)
def test_date_literals_compare_in_the_columns_form(literal: str, column: str, stored: str) -> None:
    tr = suiteql.translate(f"SELECT id FROM transaction WHERE {column} > {literal}")
    assert tr.params == (stored,)


def test_amount_comparison_is_numeric_not_text(db: Path) -> None:
    total, rows = run(db, "SELECT foreigntotal FROM transaction WHERE foreigntotal > 5000")
    assert total == len(rows) > 0
    assert all(Decimal(r[0]) > 5000 for r in rows)  # as text, "950.00" > "5000"


def test_amount_compared_with_a_text_literal_is_numeric_too(db: Path) -> None:
    as_number = run(db, "SELECT id FROM transaction WHERE foreigntotal >= 5000")
    as_text = run(db, "SELECT id FROM transaction WHERE foreigntotal >= '5000.00'")
    assert as_text == as_number and as_number[0] > 0


def test_like_is_case_sensitive_as_in_oracle(db: Path) -> None:
    assert run(db, "SELECT id FROM customer WHERE companyname LIKE 'Company 1_'")[0] == 10
    assert run(db, "SELECT id FROM customer WHERE companyname LIKE 'company%'")[0] == 0


def test_or_and_not_in_is_null_between(db: Path) -> None:
    q = (
        "SELECT id FROM customer WHERE (email IS NULL OR id BETWEEN 1 AND 3) "
        "AND NOT id IN (2) ORDER BY id"
    )
    _, rows = run(db, q)
    assert [r[0] for r in rows] == [1, 3, 5, 10, 15, 20, 25, 30]


def test_order_by_alias_and_position_and_paging(db: Path) -> None:
    q = "SELECT id AS k, externalid FROM customer ORDER BY k DESC"
    total, rows = run(db, q, limit=5, offset=5)
    assert total == 30 and [r[0] for r in rows] == [25, 24, 23, 22, 21]
    assert run(db, "SELECT externalid, id FROM customer ORDER BY 2 DESC", limit=1)[1][0][1] == 30


def test_count_over_join_with_group_by(db: Path) -> None:
    q = (
        "SELECT a.acctnumber, COUNT(*) AS n FROM transactionline tl "
        "LEFT OUTER JOIN account a ON a.id = tl.account GROUP BY a.acctnumber ORDER BY 1"
    )
    total, rows = run(db, q)
    assert total == 2 and rows == [("1200", 250), ("4000", 250)]


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("", "empty"),
        ("UPDATE customer SET email = 'x'", "expected SELECT"),
        ("SELECT id FROM customer; DELETE FROM customer", "unexpected character"),
        ("SELECT id FROM customer /* c */", "unexpected character"),
        ("SELECT id FROM pg_tables", "was not found"),
        ("SELECT nope FROM customer", "Unknown identifier 'nope'"),
        ("SELECT c.nope FROM customer c", "Field 'nope' for record 'customer'"),
        ("SELECT id FROM customer c JOIN transaction t ON t.entity = c.id", "ambiguous"),
        ("SELECT MAX(foreigntotal) FROM transaction", "amount column"),
        ("SELECT random() FROM customer", "not supported"),
        ("SELECT id FROM customer WHERE id", "expected a comparison"),
        ("SELECT id FROM customer ORDER BY 3", "out of range"),
        ("SELECT id FROM customer WHERE trandate > 'yesterday'", "Unknown identifier"),
        ("SELECT id FROM transaction WHERE trandate > 'yesterday'", "as a date"),
    ],
)
def test_refused_queries_say_why(q: str, message: str) -> None:
    with pytest.raises(suiteql.SuiteQLError, match=message):
        suiteql.translate(q)


def test_authorizer_blocks_writes_even_if_the_translator_were_fooled(db: Path) -> None:
    bad = suiteql.Translation(
        sql="DELETE FROM customer",
        params=(),
        columns=("id",),
        count_sql="SELECT COUNT(*) FROM customer",
        count_params=(),
        tables=frozenset({"customer"}),
    )
    with pytest.raises(sqlite3.DatabaseError):
        run_suiteql(db, bad, 10, 0)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM customer").fetchone()[0] == 30


def test_total_results_follow_a_write_made_by_another_connection(tmp_path: Path) -> None:
    db = build_tiny_erp_world(tmp_path, customers=3, invoices=4) / "erp.sqlite"
    tr = suiteql.translate("SELECT id FROM transaction ORDER BY id")
    assert run_suiteql(db, tr, 2, 0)[0] == 4
    assert run_suiteql(db, tr, 2, 2)[0] == 4  # served from the count cache
    with sqlite3.connect(db) as other:
        other.execute("INSERT INTO \"transaction\"(id, type) VALUES (99, 'Journal')")
    total, rows = run_suiteql(db, tr, 2, 4)
    assert total == 5 and rows == [(99,)]


def test_paging_continues_an_open_cursor_until_the_file_changes(tmp_path: Path) -> None:
    db = build_tiny_erp_world(tmp_path, customers=3, invoices=9) / "erp.sqlite"
    tr = suiteql.translate("SELECT id FROM transaction ORDER BY id")
    pages = [run_suiteql(db, tr, 2, off)[1] for off in (0, 2, 4)]
    assert pages == [[(1,), (2,)], [(3,), (4,)], [(5,), (6,)]]
    with sqlite3.connect(db) as other:  # a row that sorts first shifts every later page
        other.execute("INSERT INTO \"transaction\"(id, type) VALUES (0, 'Journal')")
    total, rows = run_suiteql(db, tr, 2, 6)
    assert (total, rows) == (10, [(6,), (7,)])  # a fresh read, not the old cursor's (7, 8)
    close_open_listings(db)


def test_a_page_out_of_sequence_is_read_fresh(tmp_path: Path) -> None:
    db = build_tiny_erp_world(tmp_path, customers=3, invoices=9) / "erp.sqlite"
    tr = suiteql.translate("SELECT id FROM transaction ORDER BY id DESC")
    assert run_suiteql(db, tr, 3, 0)[1] == [(9,), (8,), (7,)]
    assert run_suiteql(db, tr, 3, 6)[1] == [(3,), (2,), (1,)]
    assert run_suiteql(db, tr, 3, 3)[1] == [(6,), (5,), (4,)]
    close_open_listings(db)
