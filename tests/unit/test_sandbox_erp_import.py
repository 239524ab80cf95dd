"""Journal import rules, called directly on a small `erp.sqlite` (no server)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.erp.journal_import import COLUMNS, import_journal, parse_file
from tests.support.sandbox import build_tiny_erp_world

pytestmark = pytest.mark.unit

HEADER = ",".join(COLUMNS)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    build_tiny_erp_world(tmp_path, customers=3, invoices=2)
    c = sqlite3.connect(tmp_path / "erp.sqlite", isolation_level=None)
    yield c
    c.close()


def csv(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def line(ext: str, n: int, account: str, debit: str = "", credit: str = "", **kw: str) -> str:
    values = {
        "external_id": ext,
        "line_external_id": str(n),
        "trandate": "2026-10-05",
        "posting_period": "",
        "currency": "USD",
        "account": account,
        "debit": debit,
        "credit": credit,
        "memo": "m",
        "entity": "",
        "source_ref": f"src-{ext}-{n}",
        **kw,
    }
    return ",".join(values[c] for c in COLUMNS)


def test_header_in_any_order_with_bom_is_read() -> None:
    cols = list(reversed(COLUMNS))
    row = {c: "" for c in cols} | {
        "external_id": "e",
        "line_external_id": "1",
        "trandate": "2026-10-05",
        "currency": "USD",
        "account": "1000",
        "debit": "1.50",
        "source_ref": "s",
    }
    text = "\ufeff" + ",".join(cols) + "\n" + ",".join(row[c] for c in cols) + "\n"
    lines, errors = parse_file(text.encode("utf-8"))
    assert errors == [] and lines[0].result.errors == []
    assert str(lines[0].debit) == "1.50"


@pytest.mark.parametrize(
    ("debit", "credit", "ok"),
    [
        ("1.00", "", True),
        ("", "0.01", True),
        ("1", "", True),
        ("1.001", "", False),
        ("-1.00", "", False),
        ("1e3", "", False),
        ("1,000.00", "", False),
        ("1.00", "1.00", False),
        ("0.00", "", False),
        ("", "", False),
    ],
)
def test_amount_rules(debit: str, credit: str, ok: bool) -> None:
    lines, _ = parse_file(csv(line("e", 1, "1000", debit, credit)))
    assert (lines[0].result.errors == []) is ok


def test_posted_amounts_are_exact_decimal_strings(conn: sqlite3.Connection) -> None:
    rows = [line("e", 1, "1000", debit="0.10"), line("e", 2, "1000", debit="0.20")]
    rows.append(line("e", 3, "1200", credit="0.30"))  # 0.1 + 0.2 == 0.3 exactly in Decimal
    out = import_journal(conn, csv(*rows))
    assert out.http_status == 200 and out.body["entries"]["posted"] == 1
    got = conn.execute(
        'SELECT foreignamount FROM transactionline WHERE "transaction" = '
        "(SELECT id FROM \"transaction\" WHERE externalid = 'e') ORDER BY id"
    ).fetchall()
    assert got == [("0.10",), ("0.20",), ("-0.30",)]


def test_posting_period_by_name_and_entity_by_externalid(conn: sqlite3.Connection) -> None:
    rows = [
        line("p", 1, "1000", debit="5.00", posting_period="Nov 2026", entity="cus_000002"),
        line("p", 2, "1200", credit="5.00", posting_period="Nov 2026", entity="cus_000002"),
    ]
    assert import_journal(conn, csv(*rows)).body["status"] == "complete"
    period, entity, status, stamp = conn.execute(
        'SELECT postingperiod, entity, status, lastmodifieddate FROM "transaction" '
        "WHERE externalid = 'p'"
    ).fetchone()
    assert (period, entity, status) == (11, 2, "Approved for Posting")
    assert stamp == "2026-11-01T00:00:00Z"  # the world's clock, not the wall clock


def test_lines_of_one_entry_must_agree_on_currency_and_date(conn: sqlite3.Connection) -> None:
    rows = [line("m", 1, "1000", debit="5.00"), line("m", 2, "1200", credit="5.00", currency="EUR")]
    body = import_journal(conn, csv(*rows)).body
    assert body["status"] == "rejected"
    codes = {e["o:errorCode"] for ln in body["lines"] for e in ln["errors"]}
    assert "INVALID_FLD_VALUE" in codes


def test_repeated_line_id_in_an_entry_makes_the_file_malformed(conn: sqlite3.Connection) -> None:
    rows = [line("r", 1, "1000", debit="5.00"), line("r", 1, "1200", credit="5.00")]
    out = import_journal(conn, csv(*rows))
    assert out.http_status == 400
    assert out.body["lines"][1]["errors"][0]["o:errorCode"] == "DUP_ENTITY"


@pytest.mark.parametrize(
    "content",
    [b"", b"\xff\xfe not utf-8", HEADER.encode() + b"\n", b"a,b\n1,2\n"],
)
def test_empty_binary_headerless_files_are_refused(
    conn: sqlite3.Connection, content: bytes
) -> None:
    out = import_journal(conn, content)
    assert out.http_status == 400
    assert out.body["o:errorDetails"][0]["o:errorCode"] == "INVALID_FILE"


def test_nothing_is_written_for_a_refused_file(conn: sqlite3.Connection) -> None:
    before = conn.execute('SELECT COUNT(*) FROM "transaction"').fetchone()[0]
    rows = [line("x", 1, "1000", debit="5.00"), line("x", 2, "1200", credit="oops")]
    assert import_journal(conn, csv(*rows)).http_status == 400
    assert conn.execute('SELECT COUNT(*) FROM "transaction"').fetchone()[0] == before
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "q2c_import_journal" not in tables


def test_import_journal_records_each_line_with_its_source_ref(conn: sqlite3.Connection) -> None:
    rows = [line("j", 1, "1000", debit="5.00"), line("j", 2, "1200", credit="5.00")]
    import_journal(conn, csv(*rows))
    import_journal(conn, csv(*rows))
    got = conn.execute(
        "SELECT line, source_ref, status FROM q2c_import_journal ORDER BY received_at, "
        "status DESC, line"
    ).fetchall()
    assert sorted(got) == sorted(
        [
            (2, "src-j-1", "posted"),
            (3, "src-j-2", "posted"),
            (2, "src-j-1", "already_posted"),
            (3, "src-j-2", "already_posted"),
        ]
    )
