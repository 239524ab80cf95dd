"""Journal import: the ERP side of the pipeline's ERP export file.

`POST /services/rest/q2c/v1/journal-import` (body: the CSV, `Content-Type: text/csv`) is this
stand-in's version of NetSuite's CSV import / a watched drop folder. The file is UTF-8 CSV with
a header row naming exactly these columns (any order):

| column | required | meaning |
|---|---|---|
| `external_id` | yes | the entry's external id (idempotency key), shared by its lines |
| `line_external_id` | yes | the line's id, unique within the entry |
| `trandate` | yes | `YYYY-MM-DD`; the same on every line of an entry |
| `posting_period` | no | period name (`Nov 2026`); empty: the month period containing `trandate` |
| `currency` | yes | ISO code (`USD`, `EUR`, `GBP`); the same on every line of an entry |
| `account` | yes | account number (`account.acctnumber`) |
| `debit`, `credit` | one | decimal major units, <= 2 places, >= 0; exactly one > 0 |
| `memo` | no | line memo (the entry's memo is its first line's) |
| `entity` | no | the customer's `externalid` (billing customer id) |
| `source_ref` | yes | what the line comes from in the pipeline (kept in the import journal) |

Validation happens at two levels and every line gets a result:

1. The file: not UTF-8, a missing/unknown/duplicate header column, a row with the wrong number
   of fields, a missing required value, a bad date, a bad amount, or a line id repeated within
   an entry. Any of these refuses the whole file: HTTP 400 in NetSuite's error shape plus a
   `lines` list with the errors of each line; nothing is posted.
2. Each entry (all lines with one `external_id`): unknown account, currency or entity, an
   unknown or closed period, lines that disagree on date or currency, debits not equal to
   credits. A failing entry is `rejected` (each of its lines carries the error); the others
   post. With `?atomic=true` any rejection refuses the whole file (400, nothing posted).

Posting is idempotent by `external_id`: an entry whose external id already exists as a
`Journal` with the same lines answers `already_posted` and writes nothing; with different
lines it is `rejected` with `DUP_RCRD`. Posted entries become a `transaction` (`type`
`Journal`, `tranid` `JE<id>`, status `Approved for Posting`) and `transactionline` rows (ids
from 0; `foreignamount` = debit - credit) in one SQLite transaction, stamped with the world's
clock, so the next SuiteQL read shows them. Every import and line result is recorded in
`q2c_import_journal` in `erp.sqlite` (not visible to SuiteQL) so tests can prove what was
received and posted.

Response (HTTP 200): `{"importId", "status": "complete" | "partial" | "rejected", "entries":
{"posted", "alreadyPosted", "rejected"}, "lines": [{"line", "externalId", "lineExternalId",
"status": "posted" | "already_posted" | "rejected" | "invalid" | "not_posted",
"transactionId", "lineId", "errors": [{"detail", "o:errorCode"}]}]}`. `line` is the physical
line number in the file (the header is line 1).
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

COLUMNS = (
    "external_id",
    "line_external_id",
    "trandate",
    "posting_period",
    "currency",
    "account",
    "debit",
    "credit",
    "memo",
    "entity",
    "source_ref",
)
REQUIRED_VALUES = ("external_id", "line_external_id", "trandate", "currency", "account")
REQUIRED_VALUES += ("source_ref",)
MAX_FIELD_CHARS = 4000
_AMOUNT = re.compile(r"^\d{1,13}(\.\d{1,2})?$")
CENT = Decimal("0.01")

JOURNAL_DDL = """
CREATE TABLE IF NOT EXISTS q2c_import_journal(
  import_id TEXT NOT NULL, received_at TEXT NOT NULL, line INTEGER NOT NULL,
  external_id TEXT, line_external_id TEXT, source_ref TEXT, status TEXT NOT NULL,
  transaction_id INTEGER, line_id INTEGER, error_code TEXT, detail TEXT,
  PRIMARY KEY (import_id, line))
"""


@dataclass
class LineResult:
    line: int
    external_id: str | None
    line_external_id: str | None
    status: str = "pending"
    transaction_id: int | None = None
    line_id: int | None = None
    errors: list[dict[str, str]] = field(default_factory=list)

    def error(self, code: str, detail: str) -> None:
        self.errors.append({"detail": detail, "o:errorCode": code})

    def as_json(self) -> dict:
        out: dict = {
            "line": self.line,
            "externalId": self.external_id,
            "lineExternalId": self.line_external_id,
            "status": self.status,
            "errors": self.errors,
        }
        if self.transaction_id is not None:
            out["transactionId"] = self.transaction_id
            out["lineId"] = self.line_id
        return out


@dataclass
class ParsedLine:
    result: LineResult
    row: dict[str, str]
    trandate: date | None = None
    debit: Decimal = Decimal(0)
    credit: Decimal = Decimal(0)
    source_ref: str = ""


@dataclass
class ImportOutcome:
    """What the import did: an HTTP status and the JSON body to answer."""

    http_status: int
    body: dict


def _amount(text: str, name: str, result: LineResult) -> Decimal:
    if text == "":
        return Decimal(0)
    if not _AMOUNT.match(text):
        result.error("INVALID_FLD_VALUE", f"{name} {text!r} is not an amount with at most 2 places")
        return Decimal(0)
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the regex already guards this
        result.error("INVALID_FLD_VALUE", f"{name} {text!r} is not an amount")
        return Decimal(0)


def parse_file(content: bytes) -> tuple[list[ParsedLine], list[dict[str, str]]]:
    """Parse and check the file's structure.

    Returns:
        The parsed lines (each with its own errors) and file-level errors (header problems).
    """
    file_errors: list[dict[str, str]] = []
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [{"detail": "the file is not UTF-8 text", "o:errorCode": "INVALID_FILE"}]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return [], [{"detail": "the file has no header row", "o:errorCode": "INVALID_FILE"}]
    header = [h.strip().lower() for h in header]
    missing = [c for c in COLUMNS if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    dupes = sorted({c for c in header if header.count(c) > 1})
    if missing:
        file_errors.append(
            {"detail": f"missing columns: {', '.join(missing)}", "o:errorCode": "INVALID_FILE"}
        )
    if unknown:
        file_errors.append(
            {"detail": f"unknown columns: {', '.join(unknown)}", "o:errorCode": "INVALID_FILE"}
        )
    if dupes:
        file_errors.append(
            {"detail": f"repeated columns: {', '.join(dupes)}", "o:errorCode": "INVALID_FILE"}
        )
    if file_errors:
        return [], file_errors
    lines: list[ParsedLine] = []
    seen: dict[tuple[str, str], int] = {}
    try:
        for fields in reader:
            line_no = reader.line_num
            if not fields or fields == [""]:
                continue
            result = LineResult(line_no, None, None)
            if len(fields) != len(header):
                result.error("INVALID_FILE", f"expected {len(header)} fields, found {len(fields)}")
                lines.append(ParsedLine(result, {}))
                continue
            row = {h: v.strip() for h, v in zip(header, fields, strict=True)}
            result.external_id = row["external_id"] or None
            result.line_external_id = row["line_external_id"] or None
            parsed = ParsedLine(result, row, source_ref=row["source_ref"])
            for name in REQUIRED_VALUES:
                if not row[name]:
                    result.error("USER_ERROR", f"required value {name} is missing")
            for name, value in row.items():
                if len(value) > MAX_FIELD_CHARS:
                    result.error("INVALID_FLD_VALUE", f"{name} is longer than {MAX_FIELD_CHARS}")
            if row["trandate"]:
                try:
                    parsed.trandate = date.fromisoformat(row["trandate"])
                    if len(row["trandate"]) != 10:
                        raise ValueError(row["trandate"])
                except ValueError:
                    result.error("INVALID_FLD_VALUE", f"trandate {row['trandate']!r} is not a date")
            parsed.debit = _amount(row["debit"], "debit", result)
            parsed.credit = _amount(row["credit"], "credit", result)
            if not result.errors and (parsed.debit > 0) == (parsed.credit > 0):
                result.error(
                    "INVALID_FLD_VALUE", "exactly one of debit and credit must be greater than 0"
                )
            key = (row["external_id"], row["line_external_id"])
            if all(key) and key in seen:
                result.error("DUP_ENTITY", f"line_external_id repeats line {seen[key]}")
            elif all(key):
                seen[key] = line_no
            lines.append(parsed)
    except csv.Error as exc:
        file_errors.append({"detail": f"unreadable CSV: {exc}", "o:errorCode": "INVALID_FILE"})
    if not lines and not file_errors:
        file_errors.append({"detail": "the file has no lines", "o:errorCode": "INVALID_FILE"})
    return lines, file_errors


def _fmt(amount: Decimal) -> str:
    return str(amount.quantize(CENT))


def _world_now(conn: sqlite3.Connection) -> str:
    row = conn.execute("SELECT value FROM meta WHERE key = 'now'").fetchone()
    now = int(float(row[0])) if row else int(datetime.now(UTC).timestamp())
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Lookups:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.accounts = dict(conn.execute("SELECT acctnumber, id FROM account"))
        self.currencies = {s.upper(): i for s, i in conn.execute("SELECT symbol, id FROM currency")}
        self.periods = conn.execute(
            "SELECT id, periodname, startdate, enddate, closed FROM accountingperiod "
            "WHERE isquarter = 'F' AND isyear = 'F'"
        ).fetchall()
        self.conn = conn

    def entity(self, externalid: str) -> int | None:
        row = self.conn.execute(
            "SELECT id FROM customer WHERE externalid = ?", (externalid,)
        ).fetchone()
        return row[0] if row else None

    def period(self, name: str, day: date) -> tuple[int, str, str] | None:
        for pid, pname, start, end, closed in self.periods:
            if (name and pname == name) or (not name and start <= day.isoformat() <= end):
                return pid, pname, closed
        return None


def _check_entry(lines: list[ParsedLine], look: _Lookups) -> dict | None:
    """Business checks of one entry; errors go on the lines. Returns the posting plan."""
    first = lines[0].row
    plan_lines = []
    errors_before = sum(len(pl.result.errors) for pl in lines)
    for pl in lines:
        row, res = pl.row, pl.result
        if row["account"] not in look.accounts:
            res.error("INVALID_KEY_OR_REF", f"account {row['account']!r} does not exist")
        if row["currency"].upper() not in look.currencies:
            res.error("INVALID_KEY_OR_REF", f"currency {row['currency']!r} does not exist")
        if row["currency"].upper() != first["currency"].upper():
            res.error("INVALID_FLD_VALUE", "lines of one entry must share the currency")
        if row["trandate"] != first["trandate"] or row["posting_period"] != first["posting_period"]:
            res.error("INVALID_FLD_VALUE", "lines of one entry must share trandate and period")
        entity_id = None
        if row["entity"]:
            entity_id = look.entity(row["entity"])
            if entity_id is None:
                res.error("INVALID_KEY_OR_REF", f"entity {row['entity']!r} does not exist")
        plan_lines.append((pl, entity_id))
    debits = sum((pl.debit for pl in lines), Decimal(0))
    credits = sum((pl.credit for pl in lines), Decimal(0))
    if debits != credits:
        for pl in lines:
            pl.result.error(
                "UNBALANCED_JOURNAL",
                f"entry {first['external_id']!r} is unbalanced: "
                f"debits {_fmt(debits)} != credits {_fmt(credits)}",
            )
    assert lines[0].trandate is not None
    period = look.period(first["posting_period"], lines[0].trandate)
    if period is None:
        for pl in lines:
            pl.result.error("INVALID_KEY_OR_REF", "no accounting period for the entry")
    elif period[2] == "T":
        for pl in lines:
            pl.result.error("PERIOD_CLOSED", f"accounting period {period[1]!r} is closed")
    if sum(len(pl.result.errors) for pl in lines) > errors_before:
        return None
    assert period is not None
    return {
        "external_id": first["external_id"],
        "trandate": first["trandate"],
        "period": period[0],
        "currency": look.currencies[first["currency"].upper()],
        "total": _fmt(debits),
        "memo": first["memo"] or None,
        "lines": [
            (pl, look.accounts[pl.row["account"]], entity_id) for pl, entity_id in plan_lines
        ],
    }


def _line_signature(plan: dict) -> list[tuple]:
    return [
        (acct, _fmt(pl.debit) if pl.debit else None, _fmt(pl.credit) if pl.credit else None)
        for pl, acct, _ in plan["lines"]
    ]


def _post(conn: sqlite3.Connection, plan: dict, now: str) -> None:
    existing = conn.execute(
        'SELECT id, type FROM "transaction" WHERE externalid = ?', (plan["external_id"],)
    ).fetchone()
    if existing is not None:
        posted = conn.execute(
            "SELECT account, debitforeignamount, creditforeignamount FROM transactionline "
            'WHERE "transaction" = ? ORDER BY id',
            (existing[0],),
        ).fetchall()
        same = existing[1] == "Journal" and [tuple(r) for r in posted] == _line_signature(plan)
        for pl, _, _ in plan["lines"]:
            if same:
                pl.result.status = "already_posted"
                pl.result.transaction_id = existing[0]
            else:
                pl.result.status = "rejected"
                pl.result.error(
                    "DUP_RCRD",
                    f"a {existing[1]} with external id {plan['external_id']!r} exists "
                    "with different lines",
                )
        return
    (max_id,) = conn.execute('SELECT COALESCE(MAX(id), 0) FROM "transaction"').fetchone()
    tx_id = max_id + 1
    entities = {e for _, _, e in plan["lines"]}
    entity = entities.pop() if len(entities) == 1 else None
    conn.execute(
        'INSERT INTO "transaction"(id, tranid, type, trandate, postingperiod, entity, currency, '
        "foreigntotal, externalid, memo, status, createddate, lastmodifieddate) "
        "VALUES (?, ?, 'Journal', ?, ?, ?, ?, ?, ?, ?, 'Approved for Posting', ?, ?)",
        (
            tx_id,
            f"JE{tx_id}",
            plan["trandate"],
            plan["period"],
            entity,
            plan["currency"],
            plan["total"],
            plan["external_id"],
            plan["memo"],
            now,
            now,
        ),
    )
    for line_id, (pl, account, entity_id) in enumerate(plan["lines"]):
        conn.execute(
            'INSERT INTO transactionline(id, "transaction", linesequencenumber, account, '
            "foreignamount, debitforeignamount, creditforeignamount, memo, entity) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                line_id,
                tx_id,
                line_id,
                account,
                _fmt(pl.debit - pl.credit),
                _fmt(pl.debit) if pl.debit else None,
                _fmt(pl.credit) if pl.credit else None,
                pl.row["memo"] or None,
                entity_id,
            ),
        )
        pl.result.status = "posted"
        pl.result.transaction_id = tx_id
        pl.result.line_id = line_id


def _journal(conn: sqlite3.Connection, import_id: str, now: str, lines: list[ParsedLine]) -> None:
    conn.execute(JOURNAL_DDL)
    conn.executemany(
        "INSERT INTO q2c_import_journal VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                import_id,
                now,
                pl.result.line,
                pl.result.external_id,
                pl.result.line_external_id,
                pl.source_ref or None,
                pl.result.status,
                pl.result.transaction_id,
                pl.result.line_id,
                pl.result.errors[0]["o:errorCode"] if pl.result.errors else None,
                "; ".join(e["detail"] for e in pl.result.errors) or None,
            )
            for pl in lines
        ],
    )


def _refused(import_id: str, detail: str, code: str, lines: list[ParsedLine], extra=()) -> dict:
    return {
        "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1",
        "title": "Bad Request",
        "status": 400,
        "o:errorDetails": [{"detail": detail, "o:errorCode": code}, *extra],
        "importId": import_id,
        "lines": [pl.result.as_json() for pl in lines],
    }


def import_journal(
    conn: sqlite3.Connection, content: bytes, *, atomic: bool = False
) -> ImportOutcome:
    """Validate and post one journal import file.

    Args:
        conn: a connection to `erp.sqlite` in autocommit mode (`isolation_level=None`).
        content: the raw CSV bytes.
        atomic: refuse the whole file if any entry is rejected.

    Returns:
        The HTTP status and JSON body to answer (see the module docstring).
    """
    import_id = uuid.uuid4().hex
    lines, file_errors = parse_file(content)
    if file_errors:
        return ImportOutcome(
            400, _refused(import_id, file_errors[0]["detail"], "INVALID_FILE", [], file_errors[1:])
        )
    bad = [pl for pl in lines if pl.result.errors]
    if bad:
        for pl in lines:
            pl.result.status = "invalid" if pl.result.errors else "not_posted"
        detail = f"the file is malformed: {len(bad)} of {len(lines)} lines have errors"
        return ImportOutcome(400, _refused(import_id, detail, "INVALID_FILE", lines))
    conn.execute("BEGIN IMMEDIATE")
    try:
        now = _world_now(conn)
        look = _Lookups(conn)
        entries: dict[str, list[ParsedLine]] = {}
        for pl in lines:
            entries.setdefault(pl.row["external_id"], []).append(pl)
        counts = {"posted": 0, "alreadyPosted": 0, "rejected": 0}
        for entry_lines in entries.values():
            plan = _check_entry(entry_lines, look)
            if plan is None:
                for pl in entry_lines:
                    pl.result.status = "rejected"
                    if not pl.result.errors:
                        pl.result.error(
                            "ENTRY_REJECTED",
                            f"entry {pl.row['external_id']!r} has errors on other lines",
                        )
            else:
                _post(conn, plan, now)
            status = entry_lines[0].result.status
            key = {"posted": "posted", "already_posted": "alreadyPosted"}.get(status, "rejected")
            counts[key] += 1
        if atomic and counts["rejected"]:
            conn.execute("ROLLBACK")
            for pl in lines:
                if pl.result.status != "rejected":
                    pl.result.status = "not_posted"
                    pl.result.transaction_id = None
            detail = f"{counts['rejected']} entries were rejected; atomic import posted nothing"
            return ImportOutcome(400, _refused(import_id, detail, "USER_ERROR", lines))
        _journal(conn, import_id, now, lines)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if counts["rejected"] == 0:
        status = "complete"
    elif counts["rejected"] == len(entries):
        status = "rejected"
    else:
        status = "partial"
    return ImportOutcome(
        200,
        {
            "importId": import_id,
            "status": status,
            "entries": counts,
            "lines": [pl.result.as_json() for pl in lines],
        },
    )
