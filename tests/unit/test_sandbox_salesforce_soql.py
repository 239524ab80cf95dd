"""The SOQL subset of the Salesforce stand-in: parsing, name and type resolution, semantics.

Semantics are checked by running the compiled SQL over a small synthetic salesforce.sqlite and
comparing with the same filter evaluated in Python over the bodies.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.salesforce.query_plan import build_plan
from sandbox.salesforce.soql import (
    BoolOp,
    Comparison,
    Count,
    DateLiteral,
    InList,
    Not,
    SoqlError,
    parse,
)
from sandbox.salesforce.soql import (
    Path as FieldPath,
)
from sandbox.salesforce.synthetic import NOW, write_world

pytestmark = pytest.mark.unit


def test_parse_reads_fields_parents_where_order_limit_offset() -> None:
    q = parse(
        "select Id, Account.Owner.Name, COUNT() from Contact "
        "WHERE (LastName = 'O\\'Brien' OR Email != null) AND NOT Title IN ('CEO', 'CFO') "
        "ORDER BY LastName DESC NULLS LAST, Id LIMIT 10 OFFSET 5"
    )
    assert q.items[0] == FieldPath(("Id",), 8)
    assert q.items[1].parts == ("Account", "Owner", "Name")  # type: ignore[union-attr]
    assert q.items[2] == Count(None)
    assert q.sobject == "Contact"
    assert isinstance(q.where, BoolOp) and q.where.op == "AND"
    inner = q.where.items[0]
    assert isinstance(inner, BoolOp) and inner.op == "OR"
    assert inner.items[0] == Comparison(FieldPath(("LastName",), 60), "=", "O'Brien")
    assert inner.items[1].value is None  # type: ignore[union-attr]
    assert isinstance(q.where.items[1], Not)
    assert isinstance(q.where.items[1].item, InList)
    assert q.order_by[0].descending and q.order_by[0].nulls_last is True
    assert (q.limit, q.offset) == (10, 5)


def test_parse_reads_literals_of_every_type() -> None:
    q = parse(
        "SELECT Id FROM Account WHERE MRR__c >= 10.50 AND IsDeleted = false AND "
        "Last_Payment_Date__c < 2026-10-01 AND SystemModstamp > 2026-01-01T10:00:00+02:00 "
        "AND CreatedDate = LAST_N_DAYS:30 AND LastModifiedDate = TODAY"
    )
    assert isinstance(q.where, BoolOp)
    values = [c.value for c in q.where.items]  # type: ignore[union-attr]
    assert values == [
        Decimal("10.50"),
        False,
        date(2026, 10, 1),
        datetime(2026, 1, 1, 8, 0, tzinfo=UTC),
        DateLiteral("LAST_N_DAYS", 30),
        DateLiteral("TODAY"),
    ]


@pytest.mark.parametrize(
    ("soql", "column"),
    [
        ("SELECT Id FROMM Account", 11),
        ("SELECT Id FROM Account WHERE Name = 'a' AND Type = 'b' OR Type = 'c'", 56),
        ("SELECT Id FROM Account WHERE Name = ", 37),
        ("SELECT Id FROM Account LIMIT x", 30),
        ("SELECT Id, FROM Account", 12),
        ("SELECT Id FROM Account WHERE Name LIKE 5", 35),
    ],
)
def test_malformed_queries_name_the_column_like_salesforce(soql: str, column: int) -> None:
    with pytest.raises(SoqlError) as err:
        parse(soql)
    assert err.value.code == "MALFORMED_QUERY"
    assert f"ERROR at Row:1:Column:{column}" in err.value.message


def test_unknown_object_is_invalid_type() -> None:
    with pytest.raises(SoqlError) as err:
        build_plan(parse("SELECT Id FROM Lead"), NOW)
    assert err.value.code == "INVALID_TYPE"
    assert "sObject type 'Lead' is not supported" in err.value.message


@pytest.mark.parametrize(
    ("soql", "needle"),
    [
        ("SELECT Nam FROM Account", "No such column 'Nam' on entity 'Account'"),
        ("SELECT Acount.Name FROM Contact", "Didn't understand relationship 'Acount'"),
        ("SELECT Id FROM Account WHERE MRR__c = '10'", "must be of type double"),
        ("SELECT Id FROM Account WHERE Name = 10", "must be of type string"),
        ("SELECT Id FROM Account WHERE CreatedDate > 2026-01-01", "must be of type dateTime"),
        ("SELECT Id FROM Account WHERE IsDeleted = 'true'", "must be of type boolean"),
    ],
)
def test_names_and_literal_types_are_checked_as_invalid_field(soql: str, needle: str) -> None:
    with pytest.raises(SoqlError) as err:
        build_plan(parse(soql), NOW)
    assert err.value.code == "INVALID_FIELD"
    assert needle in err.value.message


def test_names_resolve_case_insensitively_to_canonical_paths() -> None:
    plan = build_plan(parse("select id, account.owner.name, LASTNAME from contact"), NOW)
    assert [c.path for c in plan.columns] == [("Id",), ("Account", "Owner", "Name"), ("LastName",)]
    assert plan.sobject.name == "Contact"
    assert len(plan.joins) == 2


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    world: Path = tmp_path_factory.mktemp("soql")
    write_world(world, 120)
    return sqlite3.connect(world / "salesforce.sqlite")


def _run(db: sqlite3.Connection, soql: str, include_deleted: bool = False) -> list[str]:
    plan = build_plan(parse(soql), NOW)
    sql, params = plan.snapshot_sql(include_deleted)
    rowids = [r[0] for r in db.execute(sql, params)]
    rows = db.execute(plan.page_sql("r.id"), (json.dumps(rowids),)).fetchall()
    return [r[0] for r in rows]


def _bodies(db: sqlite3.Connection, sobject: str, include_deleted: bool = False) -> list[dict]:
    rows = db.execute(
        "SELECT body, is_deleted FROM records WHERE sobject = ? ORDER BY id", (sobject,)
    ).fetchall()
    return [json.loads(b) for b, d in rows if include_deleted or not d]


def test_where_semantics_match_a_python_evaluation(db: sqlite3.Connection) -> None:
    accounts = _bodies(db, "Account")
    got = _run(
        db,
        "SELECT Id FROM Account WHERE (Billing_Status__c IN ('active', 'PAST_DUE') OR "
        "MRR__c > 500) AND NOT Type = 'Prospect' AND Industry != 'Retail'",
    )
    want = [
        a["Id"]
        for a in accounts
        if (a["Billing_Status__c"] in ("active", "past_due") or a["MRR__c"] > 500)
        and a["Type"] != "Prospect"
        and a["Industry"] != "Retail"  # SOQL's != keeps nulls
    ]
    assert got == want and want


def test_null_comparisons_like_and_not_in(db: sqlite3.Connection) -> None:
    accounts = _bodies(db, "Account")
    assert _run(db, "SELECT Id FROM Account WHERE Industry = null") == [
        a["Id"] for a in accounts if a["Industry"] is None
    ]
    assert _run(db, "SELECT Id FROM Account WHERE Industry != null") == [
        a["Id"] for a in accounts if a["Industry"] is not None
    ]
    assert _run(db, "SELECT Id FROM Account WHERE Name LIKE 'company 00001%'") == [
        a["Id"] for a in accounts if a["Name"].startswith("Company 00001")
    ]
    assert _run(db, "SELECT Id FROM Account WHERE Industry NOT IN ('Software')") == [
        a["Id"] for a in accounts if a["Industry"] != "Software"
    ]


def test_datetime_date_and_relative_date_filters(db: sqlite3.Connection) -> None:
    accounts = _bodies(db, "Account")
    cut = "2026-10-31T20:00:00.000+0000"
    assert _run(db, "SELECT Id FROM Account WHERE SystemModstamp > 2026-10-31T20:00:00Z") == [
        a["Id"] for a in accounts if a["SystemModstamp"] > cut
    ]
    assert _run(db, "SELECT Id FROM Account WHERE Last_Payment_Date__c = LAST_N_DAYS:5") == [
        a["Id"] for a in accounts if a["Last_Payment_Date__c"] >= "2026-10-27"
    ]
    assert _run(db, "SELECT Id FROM Account WHERE Last_Payment_Date__c = TODAY") == [
        a["Id"] for a in accounts if a["Last_Payment_Date__c"] == "2026-11-01"
    ]
    assert _run(db, "SELECT Id FROM Account WHERE Last_Payment_Date__c = LAST_MONTH") == [
        a["Id"] for a in accounts if a["Last_Payment_Date__c"].startswith("2026-10")
    ]
    assert _run(db, "SELECT Id FROM Account WHERE CreatedDate < THIS_YEAR") == [
        a["Id"] for a in accounts if a["CreatedDate"] < "2026-01-01"
    ]


def test_order_by_nulls_and_parent_fields_limit_offset(db: sqlite3.Connection) -> None:
    accounts = _bodies(db, "Account")
    got = _run(db, "SELECT Id FROM Account ORDER BY Industry DESC NULLS FIRST, Id LIMIT 7 OFFSET 3")
    ordered = sorted(accounts, key=lambda a: a["Id"])
    ordered = [a for a in ordered if a["Industry"] is None] + sorted(
        (a for a in ordered if a["Industry"] is not None),
        key=lambda a: a["Industry"].lower(),
        reverse=True,
    )
    assert got == [a["Id"] for a in ordered][3:10]
    contacts = _run(db, "SELECT Id FROM Contact WHERE Account.Type = 'Prospect'")
    every = _bodies(db, "Account", include_deleted=True)
    prospect_ids = {a["Id"] for a in every if a["Type"] == "Prospect"}
    assert contacts == [c["Id"] for c in _bodies(db, "Contact") if c["AccountId"] in prospect_ids]


def test_query_all_includes_soft_deleted_rows(db: sqlite3.Connection) -> None:
    live = _run(db, "SELECT Id FROM Account")
    every = _run(db, "SELECT Id FROM Account", include_deleted=True)
    assert len(every) == 120 and len(live) == 108
    assert _run(db, "SELECT Id FROM Account WHERE IsDeleted = true", include_deleted=True) == [
        a["Id"] for a in _bodies(db, "Account", True) if a["IsDeleted"]
    ]


def test_csv_built_in_sqlite_equals_pythons_csv_for_awkward_values(tmp_path: Path) -> None:
    import csv
    import io

    write_world(tmp_path, 5)
    conn = sqlite3.connect(tmp_path / "salesforce.sqlite")
    awkward = ['Quote "this", please', "line\nbreak", "tab\tand ; semicolon", "Zoë ✓", None]
    rows = conn.execute("SELECT rowid, body FROM records WHERE sobject = 'Account'").fetchall()
    for (rowid, body), name in zip(rows, awkward, strict=True):
        data = json.loads(body)
        data["BillingCity"] = name
        conn.execute("UPDATE records SET body = ? WHERE rowid = ?", (json.dumps(data), rowid))
    plan = build_plan(parse("SELECT Id, BillingCity, MRR__c, IsDeleted, CreatedDate FROM Account"),
                      NOW)  # fmt: skip
    ids = json.dumps([r[0] for r in rows])
    for delimiter, eol in ((",", "\n"), (";", "\r\n"), ("\t", "\n")):
        text, lengths = conn.execute(plan.csv_chunk_sql(delimiter), (ids, eol)).fetchone()
        built = text + eol
        # one length per line, in bytes, without the line ending: where each row starts
        assert sum(json.loads(lengths)) + len(rows) * len(eol) == len(built.encode())
        values = conn.execute(plan.page_sql(plan.csv_select()), (ids,)).fetchall()
        buf = io.StringIO()
        csv.writer(buf, delimiter=delimiter, lineterminator=eol, quoting=csv.QUOTE_ALL).writerows(
            values
        )
        assert built == buf.getvalue()
        parsed = list(csv.reader(io.StringIO(built, newline=""), delimiter=delimiter))
        assert [r[1] for r in parsed] == [v or "" for v in awkward[: len(rows)]]
        assert parsed[0][3] in ("true", "false") and parsed[0][4].endswith("Z")


# -- property: compiled WHERE clauses agree with a Python reading of SOQL ---------------------

_TEXT = {
    "Type": ["Customer", "prospect", "Partner"],
    "Industry": ["software", "Retail", "x"],
    "Billing_Status__c": ["active", "PAST_DUE", "none"],
    "BillingCity": ["berlin", "Zz"],
}
_NUM = {"MRR__c": [0, 10.5, 500, 1000.25]}
_DATE = {"Last_Payment_Date__c": ["2026-09-15", "2026-10-20", "2026-11-01"]}


def _atom() -> st.SearchStrategy:
    text = st.tuples(
        st.sampled_from(sorted(_TEXT)), st.sampled_from(["=", "!=", "<", ">=", "LIKE", "IN"]),
        st.data(),
    )  # fmt: skip
    num = st.tuples(st.sampled_from(sorted(_NUM)), st.sampled_from(["=", "!=", "<", "<=", ">"]),
                    st.data())  # fmt: skip
    day = st.tuples(st.sampled_from(sorted(_DATE)), st.sampled_from(["=", "<", ">="]), st.data())
    null = st.tuples(st.sampled_from(["Industry", "Payout_Hold_Reason__c"]),
                     st.sampled_from(["= null", "!= null"]), st.just(None))  # fmt: skip
    flag = st.tuples(st.just("IsDeleted"), st.sampled_from(["=", "!="]), st.data())
    return st.one_of(text, num, day, null, flag)


def _render(atom: tuple) -> tuple[str, object]:
    """(SOQL text, a Python predicate over a body) for one comparison."""
    field_name, op, data = atom
    if op in ("= null", "!= null"):
        want_null = op == "= null"
        return f"{field_name} {op}", lambda b: (b[field_name] is None) == want_null
    if field_name in _TEXT:
        if op == "IN":
            values = data.draw(st.lists(st.sampled_from(_TEXT[field_name]), min_size=1, max_size=3))
            negate = data.draw(st.booleans())
            low = {v.lower() for v in values}
            text = ", ".join(f"'{v}'" for v in values)

            def pred_in(b: dict) -> bool:
                v = b[field_name]
                inside = v is not None and v.lower() in low
                return not inside if negate else inside

            return f"{field_name} {'NOT ' if negate else ''}IN ({text})", pred_in
        value = data.draw(st.sampled_from(_TEXT[field_name]))
        if op == "LIKE":
            pattern = value[:2] + "%"
            return f"{field_name} LIKE '{pattern}'", lambda b: (
                b[field_name] is not None and b[field_name].lower().startswith(value[:2].lower())
            )
        return f"{field_name} {op} '{value}'", _cmp(field_name, op, value.lower(), str.lower)
    if field_name in _NUM:
        value = data.draw(st.sampled_from(_NUM[field_name]))
        return f"{field_name} {op} {value}", _cmp(field_name, op, value, float)
    if field_name in _DATE:
        value = data.draw(st.sampled_from(_DATE[field_name]))
        return f"{field_name} {op} {value}", _cmp(field_name, op, value, str)
    value = data.draw(st.booleans())
    return f"IsDeleted {op} {str(value).lower()}", _cmp("IsDeleted", op, value, bool)


def _cmp(name: str, op: str, value: object, norm: object) -> object:
    ops = {
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }

    def pred(body: dict) -> bool:
        v = body[name]
        if v is None:
            return op == "!="  # SOQL: != matches nulls, every other comparison does not
        return ops[op](norm(v), value)  # type: ignore[operator]

    return pred


@st.composite
def _condition(draw: st.DrawFn, depth: int = 0) -> tuple[str, object]:
    kind = draw(st.sampled_from(["atom", "atom", "not", "and", "or"] if depth < 2 else ["atom"]))
    if kind == "atom":
        return _render(draw(_atom()))
    if kind == "not":
        text, pred = draw(_condition(depth + 1))
        return f"NOT ({text})", lambda b: not pred(b)
    parts = [draw(_condition(depth + 1)) for _ in range(draw(st.integers(2, 3)))]
    joiner = " AND " if kind == "and" else " OR "
    text = joiner.join(f"({t})" for t, _ in parts)
    preds = [p for _, p in parts]
    if kind == "and":
        return text, lambda b: all(p(b) for p in preds)
    return text, lambda b: any(p(b) for p in preds)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(cond=_condition())
def test_where_clauses_agree_with_a_python_reading_of_soql(
    db: sqlite3.Connection, cond: tuple[str, object]
) -> None:
    text, pred = cond
    bodies = _bodies(db, "Account", include_deleted=True)
    got = _run(db, f"SELECT Id FROM Account WHERE {text}", include_deleted=True)
    assert got == [b["Id"] for b in bodies if pred(b)], text  # type: ignore[operator]
