"""Pytest fixtures that generate sandbox worlds and run the stand-in servers.

Session-scoped (one world and one set of servers per test session; xdist workers get their own):

- `world_s`: a generated S world (`sandbox.world.generate(dir, seed=7, scale="S")`) in a
  temp dir. Tests must not write to it except through the stand-ins they exercise.
- `sandbox_running`: all three stand-ins over `world_s` (a `sandbox.services.RunningSandbox`),
  stopped after the session; tests that change faults must put them back (`reset_faults`).
- `sandbox_services`: the env dict of `sandbox_running` (what the pipeline reads).

Plus `build_tiny_erp_world(dir)`, a small hand-written `erp.sqlite` + `truth.sqlite` for ERP
tests that must own their data (imports write to it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

ERP_DDL = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE subsidiary(id INTEGER PRIMARY KEY, name TEXT, currency INTEGER);
CREATE TABLE currency(id INTEGER PRIMARY KEY, symbol TEXT, name TEXT);
CREATE TABLE account(id INTEGER PRIMARY KEY, acctnumber TEXT, acctname TEXT, accttype TEXT);
CREATE TABLE accountingperiod(id INTEGER PRIMARY KEY, periodname TEXT, startdate TEXT,
  enddate TEXT, closed TEXT, isquarter TEXT, isyear TEXT);
CREATE TABLE customer(id INTEGER PRIMARY KEY, entityid TEXT, companyname TEXT, externalid TEXT,
  currency INTEGER, subsidiary INTEGER, email TEXT, datecreated TEXT, lastmodifieddate TEXT);
CREATE TABLE "transaction"(id INTEGER PRIMARY KEY, tranid TEXT, type TEXT, trandate TEXT,
  postingperiod INTEGER, entity INTEGER, currency INTEGER, foreigntotal TEXT, externalid TEXT,
  memo TEXT, status TEXT, createddate TEXT, lastmodifieddate TEXT);
CREATE TABLE previoustransactionlinelink(previousdoc INTEGER NOT NULL,
  previousline INTEGER NOT NULL, nextdoc INTEGER NOT NULL, nextline INTEGER NOT NULL,
  linktype TEXT NOT NULL, foreignamount TEXT,
  PRIMARY KEY (previousdoc, previousline, nextdoc, nextline));
CREATE TABLE transactionline(id INTEGER NOT NULL, "transaction" INTEGER NOT NULL,
  linesequencenumber INTEGER, account INTEGER, foreignamount TEXT, debitforeignamount TEXT,
  creditforeignamount TEXT, memo TEXT, entity INTEGER, PRIMARY KEY ("transaction", id));
"""
TRUTH_DDL = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE discrepancies(id INTEGER PRIMARY KEY, kind TEXT NOT NULL, system TEXT NOT NULL,
  object_ids TEXT NOT NULL, detail TEXT NOT NULL, day INTEGER NOT NULL);
CREATE TABLE counts(system TEXT, object TEXT, n INTEGER, PRIMARY KEY (system, object));
"""
TINY_NOW = 1793491200  # 2026-11-01T00:00:00Z, the world's DEFAULT_NOW
TINY_INVALID_VAT = "DE136695976"  # passes stdnum's checksum; the world marks it unregistered
ACCOUNTS = [
    (1, "1000", "Operating Bank", "Bank"),
    (2, "1200", "Accounts Receivable", "AcctRec"),
    (3, "4000", "Subscription Revenue", "Income"),
    (4, "2200", "Sales Tax Payable", "OthCurrLiab"),
    (5, "6100", "Payment Processing Fees", "Expense"),
]


def _months_2026() -> list[tuple]:
    periods = []
    names = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
    ends = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    for i, (name, end) in enumerate(zip(names, ends, strict=True), start=1):
        closed = "T" if i <= 6 else "F"  # H1 2026 is closed
        periods.append(
            (i, f"{name} 2026", f"2026-{i:02d}-01", f"2026-{i:02d}-{end:02d}", closed, "F", "F")
        )
    periods.append((13, "FY 2026", "2026-01-01", "2026-12-31", "F", "F", "T"))
    return periods


def build_tiny_erp_world(world_dir: Path, *, customers: int = 30, invoices: int = 250) -> Path:
    """Write a small, deterministic `erp.sqlite` and `truth.sqlite` into `world_dir`.

    Each invoice is a `CustInvc` with two lines (receivable debit, revenue credit); every
    fifth customer has no email (a null column). `truth.counts` holds the row counts.

    Returns:
        `world_dir`.
    """
    world_dir.mkdir(parents=True, exist_ok=True)
    erp = sqlite3.connect(world_dir / "erp.sqlite")
    erp.execute("PRAGMA journal_mode = WAL")  # as the world generator writes it
    erp.execute("PRAGMA synchronous = OFF")  # test data: no fsync
    erp.executescript(ERP_DDL)
    erp.executemany(
        "INSERT INTO meta VALUES (?, ?)", [("seed", "1"), ("scale", "tiny"), ("now", str(TINY_NOW))]
    )
    erp.executemany(
        "INSERT INTO currency VALUES (?, ?, ?)",
        [(1, "USD", "US Dollar"), (2, "EUR", "Euro"), (3, "GBP", "British Pound")],
    )
    erp.execute("INSERT INTO subsidiary VALUES (1, 'Q2C Inc.', 1)")
    erp.executemany("INSERT INTO account VALUES (?, ?, ?, ?)", ACCOUNTS)
    erp.executemany("INSERT INTO accountingperiod VALUES (?, ?, ?, ?, ?, ?, ?)", _months_2026())
    rows = []
    for i in range(1, customers + 1):
        email = None if i % 5 == 0 else f"billing{i}@example.com"
        ts = f"2026-0{1 + i % 9}-{10 + i % 18:02d}T08:{i % 60:02d}:00Z"
        rows.append(
            (i, f"CUST{i:04d}", f"Company {i}", f"cus_{i:06d}", 1 + i % 3, 1, email, ts, ts)
        )
    erp.executemany("INSERT INTO customer VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    tx, lines = [], []
    for n in range(1, invoices + 1):
        cust = 1 + n % customers
        month = 1 + n % 10
        day = 1 + n % 28
        cents = 1000 + (n * 7919) % 900_000
        amount = f"{cents // 100}.{cents % 100:02d}"
        ts = f"2026-{month:02d}-{day:02d}T{n % 24:02d}:{n % 60:02d}:{(n * 7) % 60:02d}Z"
        tx.append(
            (
                n,
                f"INV{n:05d}",
                "CustInvc",
                f"2026-{month:02d}-{day:02d}",
                month,
                cust,
                1 + cust % 3,
                amount,
                f"in_{n:08d}",
                None if n % 4 else f"invoice {n}",
                "A",
                ts,
                ts,
            )
        )
        lines.append((0, n, 0, 2, amount, amount, None, None, cust))
        lines.append((1, n, 1, 3, f"-{amount}", None, amount, None, cust))
    erp.executemany('INSERT INTO "transaction" VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)', tx)
    erp.executemany("INSERT INTO transactionline VALUES (?,?,?,?,?,?,?,?,?)", lines)
    # every third invoice "paid" by the next one, only to give the link table rows
    links = [(n, 0, n + 1, 0, "Payment", tx[n - 1][7]) for n in range(1, invoices, 3)]
    erp.executemany("INSERT INTO previoustransactionlinelink VALUES (?,?,?,?,?,?)", links)
    erp.commit()
    counts = {
        t: erp.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]
        for t in (
            "subsidiary",
            "currency",
            "account",
            "accountingperiod",
            "customer",
            "transaction",
            "transactionline",
            "previoustransactionlinelink",
        )
    }
    erp.close()
    truth = sqlite3.connect(world_dir / "truth.sqlite")
    truth.execute("PRAGMA synchronous = OFF")
    truth.executescript(TRUTH_DDL)
    truth.executemany("INSERT INTO counts VALUES ('erp', ?, ?)", list(counts.items()))
    truth.execute(
        "INSERT INTO discrepancies VALUES (1, 'invalid_eu_vat', 'billing', ?, ?, 0)",
        ('{"customer": "cus_000003"}', f'{{"tax_id": "{TINY_INVALID_VAT}"}}'),
    )
    truth.commit()
    truth.close()
    return world_dir


@pytest.fixture(scope="session")
def world_s(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated S world (seed 7), once per session."""
    from sandbox import world

    world_dir = tmp_path_factory.mktemp("world_s")
    world.generate(world_dir, seed=7, scale="S")
    return world_dir


@pytest.fixture(scope="session")
def sandbox_running(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """All stand-ins over `world_s` (a `RunningSandbox`), stopped after the session."""
    from sandbox.services import start_services

    sandbox = start_services(world_s, None, tmp_path_factory.mktemp("sandbox_state"))
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture(scope="session")
def sandbox_services(sandbox_running: object) -> dict[str, str]:
    """The environment the pipeline needs to reach the running stand-ins."""
    return dict(sandbox_running.env)  # type: ignore[attr-defined]
