"""The four SQLite files of a world and a batched writer over them.

The table layouts are the contract in docs/INTERFACES.md section 1. `WorldWriter` buffers rows
per table and writes them with `executemany` in batches, so a world of millions of rows is
written in bounded memory; it also keeps the per-object counts that go to `truth.counts`, and,
while advancing the clock, the list of changes that goes to `truth.changes`.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

FILES = ("billing", "salesforce", "erp", "truth")

SCHEMAS: dict[str, list[str]] = {
    "billing": [
        """CREATE TABLE objects(
            object TEXT NOT NULL, id TEXT PRIMARY KEY, created INTEGER NOT NULL, parent TEXT,
            customer TEXT, payout TEXT, status TEXT, type TEXT, delivered INTEGER,
            deleted INTEGER NOT NULL DEFAULT 0, body TEXT NOT NULL)""",
    ],
    "salesforce": [
        """CREATE TABLE records(sobject TEXT NOT NULL, id TEXT PRIMARY KEY,
            system_modstamp TEXT NOT NULL, is_deleted INTEGER NOT NULL, body TEXT NOT NULL)""",
    ],
    "erp": [
        "CREATE TABLE subsidiary(id INTEGER PRIMARY KEY, name TEXT, currency INTEGER)",
        "CREATE TABLE currency(id INTEGER PRIMARY KEY, symbol TEXT, name TEXT)",
        """CREATE TABLE account(id INTEGER PRIMARY KEY, acctnumber TEXT, acctname TEXT,
            accttype TEXT)""",
        """CREATE TABLE accountingperiod(id INTEGER PRIMARY KEY, periodname TEXT, startdate TEXT,
            enddate TEXT, closed TEXT, isquarter TEXT, isyear TEXT)""",
        """CREATE TABLE customer(id INTEGER PRIMARY KEY, entityid TEXT, companyname TEXT,
            externalid TEXT, currency INTEGER, subsidiary INTEGER, email TEXT, datecreated TEXT,
            lastmodifieddate TEXT)""",
        """CREATE TABLE "transaction"(id INTEGER PRIMARY KEY, tranid TEXT, type TEXT,
            trandate TEXT, postingperiod INTEGER, entity INTEGER, currency INTEGER,
            foreigntotal TEXT, externalid TEXT, memo TEXT, status TEXT, createddate TEXT,
            lastmodifieddate TEXT)""",
        """CREATE TABLE transactionline(id INTEGER NOT NULL, "transaction" INTEGER NOT NULL,
            linesequencenumber INTEGER, account INTEGER, foreignamount TEXT,
            debitforeignamount TEXT, creditforeignamount TEXT, memo TEXT, entity INTEGER,
            PRIMARY KEY ("transaction", id))""",
        """CREATE TABLE previoustransactionlinelink(previousdoc INTEGER NOT NULL,
            previousline INTEGER NOT NULL, nextdoc INTEGER NOT NULL, nextline INTEGER NOT NULL,
            linktype TEXT NOT NULL, foreignamount TEXT,
            PRIMARY KEY (previousdoc, previousline, nextdoc, nextline))""",
    ],
    "truth": [
        """CREATE TABLE discrepancies(id INTEGER PRIMARY KEY, kind TEXT NOT NULL,
            system TEXT NOT NULL, object_ids TEXT NOT NULL, detail TEXT NOT NULL,
            day INTEGER NOT NULL)""",
        "CREATE TABLE counts(system TEXT, object TEXT, n INTEGER, PRIMARY KEY (system, object))",
        "CREATE TABLE changes(day INTEGER, system TEXT, object TEXT, id TEXT, change TEXT)",
        "CREATE TABLE pii(system TEXT, object TEXT, id TEXT, field TEXT, value TEXT)",
        # what the input checks must report (messy profile): one row per offending value
        """CREATE TABLE dq_problems(id INTEGER PRIMARY KEY, problem TEXT NOT NULL,
            system TEXT NOT NULL, object TEXT NOT NULL, object_id TEXT NOT NULL,
            field TEXT NOT NULL, value TEXT, detail TEXT NOT NULL)""",
        # injected mess that is neither a break nor a data-quality problem (messy profile)
        """CREATE TABLE mess(id INTEGER PRIMARY KEY, kind TEXT NOT NULL,
            object_ids TEXT NOT NULL, detail TEXT NOT NULL)""",
    ],
}

INDEXES: dict[str, list[str]] = {
    "billing": [
        "CREATE INDEX IF NOT EXISTS objects_created ON objects(object, created DESC, id DESC)",
        "CREATE INDEX IF NOT EXISTS objects_parent ON objects(object, parent)",
        "CREATE INDEX IF NOT EXISTS objects_customer ON objects(object, customer)",
        "CREATE INDEX IF NOT EXISTS objects_payout ON objects(object, payout)",
    ],
    "salesforce": [
        "CREATE INDEX IF NOT EXISTS records_modstamp ON records(sobject, system_modstamp)",
    ],
    "erp": [
        'CREATE INDEX IF NOT EXISTS transaction_externalid ON "transaction"(externalid)',
        "CREATE INDEX IF NOT EXISTS customer_externalid ON customer(externalid)",
    ],
    "truth": [
        "CREATE INDEX IF NOT EXISTS changes_day ON changes(day)",
        "CREATE INDEX IF NOT EXISTS pii_value ON pii(system, object, id)",
    ],
}

_INSERTS: dict[tuple[str, str], str] = {
    ("billing", "objects"): "INSERT OR REPLACE INTO objects VALUES (?,?,?,?,?,?,?,?,?,?,?)",
    ("salesforce", "records"): "INSERT OR REPLACE INTO records VALUES (?,?,?,?,?)",
    ("truth", "discrepancies"): "INSERT INTO discrepancies(kind, system, object_ids, detail, day)"
    " VALUES (?,?,?,?,?)",
    ("truth", "changes"): "INSERT INTO changes VALUES (?,?,?,?,?)",
    ("truth", "pii"): "INSERT INTO pii VALUES (?,?,?,?,?)",
    ("truth", "dq_problems"): "INSERT INTO dq_problems(problem, system, object, object_id,"
    " field, value, detail) VALUES (?,?,?,?,?,?,?)",
    ("truth", "mess"): "INSERT INTO mess(kind, object_ids, detail) VALUES (?,?,?)",
}
_ERP_WIDTH = {
    "subsidiary": 3,
    "currency": 3,
    "account": 4,
    "accountingperiod": 7,
    "customer": 9,
    "transaction": 13,
    "transactionline": 9,
    "previoustransactionlinelink": 6,
}
for _table, _width in _ERP_WIDTH.items():
    _INSERTS[("erp", _table)] = (
        f'INSERT OR REPLACE INTO "{_table}" VALUES ({",".join("?" * _width)})'
    )


try:  # orjson (in requirements.lock) writes the same compact text about 6x faster
    import orjson

    def dumps(body: dict[str, Any]) -> str:
        """The canonical JSON text of a body (compact, key order as built, UTF-8 kept)."""
        return orjson.dumps(body).decode()

except ImportError:  # pragma: no cover - same bytes through the standard library

    def dumps(body: dict[str, Any]) -> str:
        """The canonical JSON text of a body (compact, key order as built, UTF-8 kept)."""
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def connect(path: Path) -> sqlite3.Connection:
    """Open one world file in WAL mode."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    return con


class WorldWriter:
    """Batched writes into the four files, with counts and (when advancing) change records.

    Args:
        world_dir: the world directory (created if missing).
        create: make the tables (a new world) rather than open existing ones.
        batch: rows per `executemany`.
        day: 0 while generating; the advanced day number while advancing (changes are recorded).
    """

    def __init__(
        self,
        world_dir: Path,
        *,
        create: bool,
        batch: int = 5_000,
        day: int = 0,
        present: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None,
    ):
        self.world_dir = world_dir
        # how this org shows a Salesforce record (field names, picklist labels); None: as built
        self.present = present
        self.batch = batch
        self.day = day
        self.cons: dict[str, sqlite3.Connection] = {}
        world_dir.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            path = world_dir / f"{name}.sqlite"
            if create:
                for suffix in ("", "-wal", "-shm"):
                    p = Path(str(path) + suffix)
                    if p.exists():
                        p.unlink()
            if create:
                # bulk load: no journal (a crash mid-generation leaves a world to regenerate);
                # one huge transaction in WAL mode would grow the WAL to the database's size
                con = sqlite3.connect(path, isolation_level=None)
                con.execute("PRAGMA journal_mode=OFF")
                con.execute("PRAGMA cache_size=-65536")
            else:
                con = connect(path)
            con.execute("PRAGMA synchronous=OFF")
            if create:
                con.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT)")
                for ddl in SCHEMAS[name]:
                    con.execute(ddl)
            con.execute("BEGIN")
            self.cons[name] = con
        self._buf: dict[tuple[str, str], list[tuple]] = {k: [] for k in _INSERTS}
        self.billing_counts: Counter[str] = Counter()
        self.sf_counts: Counter[str] = Counter()
        self.erp_counts: Counter[str] = Counter()
        self.changes: Counter[tuple[str, str, str]] = Counter()
        # events at or after this time are listable (set by `generate`, which counts them as
        # written rather than scanning the table afterwards)
        self.listable_from: int | None = None
        self.listable_events = 0
        self.discrepancy_count = 0

    # -- generic -------------------------------------------------------------------------
    def _put(self, key: tuple[str, str], row: tuple) -> None:
        buf = self._buf[key]
        buf.append(row)
        if len(buf) >= self.batch:
            self._flush(key)

    def _flush(self, key: tuple[str, str]) -> None:
        buf = self._buf[key]
        if buf:
            self.cons[key[0]].executemany(_INSERTS[key], buf)
            buf.clear()

    def flush(self) -> None:
        """Write every buffered row."""
        for key in self._buf:
            self._flush(key)

    def _change(self, system: str, obj: str, oid: str, change: str | None) -> None:
        if self.day and change:
            self._put(("truth", "changes"), (self.day, system, obj, oid, change))
            self.changes[(system, obj, change)] += 1

    # -- billing ---------------------------------------------------------------------------
    def billing(
        self,
        body: dict[str, Any],
        *,
        parent: str | None = None,
        customer: str | None = None,
        payout: str | None = None,
        status: str | None = None,
        type_: str | None = None,
        delivered: int | None = None,
        deleted: int = 0,
        change: str | None = "created",
        count: bool = True,
    ) -> None:
        """Store one Stripe object (`body` as the API returns it)."""
        obj = body["object"]
        created = body.get("created")
        if created is None and obj == "invoiceitem":
            created = body["date"]
        elif created is None:  # line items carry no `created`; they sort by their invoice's
            created = body["_created"]
            body = {k: v for k, v in body.items() if k != "_created"}
        self._put(
            ("billing", "objects"),
            (
                obj,
                body["id"],
                created,
                parent,
                customer,
                payout,
                status,
                type_,
                delivered,
                deleted,
                dumps(body),
            ),
        )
        if count and change == "created" and not deleted:
            self.billing_counts[obj] += 1
            if obj == "event" and self.listable_from is not None and created >= self.listable_from:
                self.listable_events += 1
        self._change("billing", obj, body["id"], change)

    # -- salesforce ------------------------------------------------------------------------
    def salesforce(self, sobject: str, body: dict[str, Any], change: str | None = "created"):
        """Store one Salesforce record (`body`: every field by API name)."""
        if self.present is not None:
            body = self.present(sobject, body)
        deleted = 1 if body["IsDeleted"] else 0
        self._put(
            ("salesforce", "records"),
            (sobject, body["Id"], body["SystemModstamp"], deleted, dumps(body)),
        )
        if change == "created":
            self.sf_counts[sobject] += 1
            if not deleted:
                self.sf_counts[sobject + ":live"] += 1
        elif change == "deleted":
            self.sf_counts[sobject + ":live"] -= 1
        self._change("salesforce", sobject, body["Id"], change)

    # -- erp -------------------------------------------------------------------------------
    def erp(self, table: str, row: tuple, change: str | None = "created") -> None:
        """Store one ERP row (columns in the order of the table)."""
        self._put(("erp", table), row)
        if change == "created":
            self.erp_counts[table] += 1
        if table == "transactionline":
            oid = f"{row[1]}:{row[0]}"
        elif table == "previoustransactionlinelink":
            oid = f"{row[0]}:{row[1]}:{row[2]}:{row[3]}"
        else:
            oid = str(row[0])
        self._change("erp", table, oid, change)

    # -- truth -----------------------------------------------------------------------------
    def discrepancy(self, kind: str, system: str, object_ids: dict, detail: dict) -> None:
        """Record one injected discrepancy in the ground truth."""
        self._put(
            ("truth", "discrepancies"),
            (kind, system, dumps(object_ids), dumps(detail), self.day),
        )
        self.discrepancy_count += 1

    def dq_problem(
        self,
        problem: str,
        system: str,
        obj: str,
        oid: str,
        field: str,
        value: str | None,
        detail: dict,
    ) -> None:
        """Record one injected data-quality problem (what an input check must report)."""
        self._put(
            ("truth", "dq_problems"), (problem, system, obj, oid, field, value, dumps(detail))
        )

    def mess(self, kind: str, object_ids: dict, detail: dict) -> None:
        """Record injected mess that is neither a break nor a data-quality problem."""
        self._put(("truth", "mess"), (kind, dumps(object_ids), dumps(detail)))

    def pii(self, system: str, obj: str, oid: str, field: str, value: str | None) -> None:
        """Record one generated PII or tax value."""
        if value:
            self._put(("truth", "pii"), (system, obj, oid, field, value))

    # -- finish ----------------------------------------------------------------------------
    def set_meta(self, values: dict[str, str]) -> None:
        """Write `meta` keys into every file."""
        for con in self.cons.values():
            con.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", sorted(values.items()))

    def commit(self) -> None:
        """Flush and commit every file."""
        self.flush()
        for con in self.cons.values():
            con.execute("COMMIT")
            con.execute("BEGIN")

    def close(self, *, indexes: bool = True) -> None:
        """Flush, build the indexes, commit and close."""
        self.flush()
        for name, con in self.cons.items():
            if indexes:
                for ddl in INDEXES[name]:
                    con.execute(ddl)
            con.execute("COMMIT")
            con.execute("PRAGMA journal_mode=WAL")  # the stand-ins read while advance writes
            con.close()
        self.cons = {}
