"""Compile a parsed SOQL query into SQLite over `records(sobject, id, system_modstamp,
is_deleted, body)`.

Fields are read with `body ->> '$.Field'` (parent fields through a LEFT JOIN per relationship
path), so filtering, ordering and projection run inside SQLite's C code: that is what lets a
Bulk query stream 100,000+ rows/s. Semantics follow SOQL rather than SQL: text comparisons and
ORDER BY are case-insensitive, `!=` and `NOT IN` match nulls, every predicate is two-valued,
ASC sorts nulls first and DESC nulls last unless told otherwise. Literals are type-checked
against the field (`INVALID_FIELD`), as Salesforce does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sandbox.salesforce.org import NUMBER_TYPES, ORG, TEXT_TYPES, SObjectDef, normalize_id
from sandbox.salesforce.soql import (
    BoolOp,
    Comparison,
    Condition,
    Count,
    DateLiteral,
    InList,
    Not,
    Path,
    Query,
    SoqlError,
    Value,
    _error,
)
from sandbox.world.salesforce_schema import Field

_PRINTF_ARGS = 100  # SQLite functions take at most 127 arguments


@dataclass(frozen=True)
class Column:
    """One selected field: canonical path (`("Account", "Name")`), its type and SQL."""

    path: tuple[str, ...]
    field: Field
    alias: str  # table alias holding the field
    sql: str  # value expression (->> : SQL value)
    json_sql: str  # JSON expression (-> : JSON text, numbers kept as written)

    @property
    def header(self) -> str:
        """The Bulk CSV header of the column (`Account.Name`)."""
        return ".".join(self.path)


@dataclass
class Plan:
    """What to run for a query: the row-id snapshot SQL and how to project a page."""

    sobject: SObjectDef
    columns: list[Column]
    joins: dict[tuple[str, ...], tuple[str, SObjectDef, str]]  # path -> (alias, obj, ref sql)
    where_sql: str
    params: list[object]
    order_sql: str
    limit: int | None
    offset: int | None
    count_only: bool = False  # COUNT()
    aggregate_alias: str | None = None  # COUNT(field) [alias]
    group_by: bool = False
    count_sql: str | None = None  # the field of COUNT(field)

    def snapshot_sql(self, include_deleted: bool) -> tuple[str, list[object]]:
        """SQL returning the matching rowids in result order, and its parameters."""
        deleted = "" if include_deleted else " AND r.is_deleted = 0"
        sql = (
            f"SELECT r.rowid FROM records r{self.join_sql()} "
            f"WHERE r.sobject = ?{deleted} AND ({self.where_sql}) ORDER BY {self.order_sql}"
        )
        params: list[object] = [self.sobject.name, *self.params]
        if self.limit is not None or self.offset is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [-1 if self.limit is None else self.limit, self.offset or 0]
        return sql, params

    def join_sql(self) -> str:
        """The LEFT JOINs to parent records the query needs."""
        return "".join(
            f" LEFT JOIN records {alias} ON {alias}.id = {ref}"
            for alias, _obj, ref in self.joins.values()
        )

    def page_sql(self, select: str) -> str:
        """SQL projecting the rows whose rowids come as a JSON array parameter, in order."""
        # CROSS JOIN pins json_each as the outer loop, so rows come in the array's order
        # without the temporary B-tree an ORDER BY k.key costs.
        return (
            f"SELECT {select} FROM json_each(?) k CROSS JOIN records r ON r.rowid = k.value"
            f"{self.join_sql()}"
        )

    def csv_select(self) -> str:
        """Projection for Bulk CSV rows: booleans `true`/`false`, datetimes `...000Z`."""
        return ", ".join(self.csv_select_exprs())

    def csv_select_exprs(self) -> list[str]:
        """One SQL expression per column for Bulk CSV (see `csv_select`)."""
        out = []
        for c in self.columns:
            if c.field.type == "boolean":
                out.append(_bool_text(c.sql))
            elif c.field.type == "datetime":
                # Bulk API 2.0 writes UTC datetimes with `Z`, REST with `+0000`
                out.append(f"replace({c.sql}, '+0000', 'Z')")
            else:
                out.append(c.sql)
        return out

    def json_select(self, version: str) -> str:
        """One `json_object` per row in Salesforce's REST shape (attributes, nested parents)."""
        return self._json_object((), self.sobject, "r", version)

    def _json_object(
        self, prefix: tuple[str, ...], obj: SObjectDef, alias: str, version: str
    ) -> str:
        url = f"'/services/data/v{version}/sobjects/{obj.name}/' || {alias}.id"
        parts = [f"'attributes', json_object('type', '{obj.name}', 'url', {url})"]
        done: set[tuple[str, ...]] = set()
        for col in self.columns:
            if col.path[: len(prefix)] != prefix:
                continue
            rest = col.path[len(prefix) :]
            if len(rest) == 1:
                parts.append(f"'{rest[0]}', {col.json_sql}")
                continue
            rel = (*prefix, rest[0])
            if rel in done:
                continue
            done.add(rel)
            child_alias, child_obj, _ref = self.joins[rel]
            child = self._json_object(rel, child_obj, child_alias, version)
            parts.append(
                f"'{rest[0]}', CASE WHEN {child_alias}.id IS NULL THEN NULL ELSE {child} END"
            )
        return "json_object(" + ", ".join(parts) + ")"

    def csv_line_sql(self, delimiter: str) -> str:
        """SQL expression of one row's CSV line: every value quoted, quotes doubled, no EOL.

        One `printf` per row: its `%w` doubles double quotes, and building the line in one call
        costs a third of quoting and concatenating field by field (each `||` copies the line).
        """
        if any(ch in delimiter for ch in "%'"):
            raise ValueError(f"unsupported delimiter {delimiter!r}")
        exprs = [f"coalesce({e}, '')" for e in self.csv_select_exprs()]
        calls = []
        for i in range(0, len(exprs), _PRINTF_ARGS):
            group = exprs[i : i + _PRINTF_ARGS]
            fmt = delimiter.join('"%w"' for _ in group)
            calls.append(f"printf('{fmt}', {', '.join(group)})")
        return f" || '{delimiter}' || ".join(calls)

    def csv_chunk_sql(self, delimiter: str) -> str:
        """SQL answering one row: a chunk's CSV lines joined, and each line's length in bytes.

        Parameters: the rowids as a JSON array, then the line ending (joins the lines; the last
        line gets none). The lengths come as a JSON array, one per line without the line
        ending, so a page can start at any row of the rendered text. MATERIALIZED evaluates
        each line once although it is used twice. The text is built inside SQLite, which
        releases the GIL while it works, so two chunks render on two cores at once.
        """
        line = self.csv_line_sql(delimiter)
        return (
            f"WITH t(x) AS MATERIALIZED ({self.page_sql(line + ' AS x')}) "
            "SELECT group_concat(x, ?2), json_group_array(length(CAST(x AS BLOB))) FROM t"
        )


def _bool_text(sql: str) -> str:
    return f"CASE {sql} WHEN 1 THEN 'true' WHEN 0 THEN 'false' END"


def _today(now: datetime) -> date:
    return now.astimezone(UTC).date()


def build_plan(query: Query, now: datetime) -> Plan:
    """Resolve names and types of `query` against the org and compile it.

    Args:
        query: the parsed query.
        now: the world's clock, for TODAY and LAST_N_DAYS.

    Raises:
        SoqlError: INVALID_TYPE (unknown object), INVALID_FIELD (unknown field, wrong literal
            type), MALFORMED_QUERY.
    """
    obj = ORG.get(query.sobject)
    if obj is None:
        raise SoqlError(
            "INVALID_TYPE",
            _error(query.text, 1, f"sObject type '{query.sobject}' is not supported.").message,
        )
    return _Compiler(query, obj, now).compile()


class _Compiler:
    def __init__(self, query: Query, obj: SObjectDef, now: datetime) -> None:
        self.q = query
        self.obj = obj
        self.now = now
        self.joins: dict[tuple[str, ...], tuple[str, SObjectDef, str]] = {}
        self.params: list[object] = []

    def compile(self) -> Plan:
        columns: list[Column] = []
        count_only = False
        agg_alias: str | None = None
        count_sql: str | None = None
        seen: set[tuple[str, ...]] = set()
        for item in self.q.items:
            if isinstance(item, Count):
                if item.path is None:
                    if len(self.q.items) > 1:
                        raise _error(self.q.text, 1, "COUNT() must be the only element")
                    count_only = True
                else:
                    count_sql = self.resolve(item.path).sql
                    agg_alias = item.alias or "expr0"
                continue
            col = self.resolve(item)
            if col.path in seen:
                raise SoqlError(
                    "MALFORMED_QUERY",
                    _error(self.q.text, item.column, f"duplicate field selected: {item}").message,
                )
            seen.add(col.path)
            columns.append(col)
        if agg_alias is not None and columns and not self.q.group_by:
            raise _error(
                self.q.text,
                1,
                "Field must be grouped or aggregated: " + columns[0].header,
            )
        where_sql = self.condition(self.q.where) if self.q.where is not None else "1"
        order = []
        for item in self.q.order_by:
            col = self.resolve(item.path)
            nocase = col.field.type in TEXT_TYPES and col.field.type not in ("id", "reference")
            # `+` keeps SQLite from walking the id index for ORDER BY ... LIMIT, which reads
            # every row of every object in id order (seconds at M scale) instead of sorting.
            expr = ("+" if col.field.name == "Id" else "") + col.sql
            expr += " COLLATE NOCASE" if nocase else ""
            nulls_last = item.nulls_last if item.nulls_last is not None else item.descending
            order.append(
                f"{expr} {'DESC' if item.descending else 'ASC'} "
                f"NULLS {'LAST' if nulls_last else 'FIRST'}"
            )
        # A stable order for paging. Salesforce leaves the default order unspecified; rowid is
        # insertion order and costs a fifth of sorting by Id (0.1 s vs 0.5 s for 200k rows).
        order.append("r.rowid")
        if self.q.offset is not None and self.q.offset > 2000:
            raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000")
        return Plan(
            sobject=self.obj,
            columns=columns,
            joins=self.joins,
            where_sql=where_sql,
            params=self.params,
            order_sql=", ".join(order),
            limit=self.q.limit,
            offset=self.q.offset,
            count_only=count_only,
            aggregate_alias=agg_alias,
            group_by=bool(self.q.group_by),
            count_sql=count_sql,
        )

    # -- names ---------------------------------------------------------------------------------
    def resolve(self, path: Path) -> Column:
        obj, alias, canon = self.obj, "r", ()
        parts = list(path.parts)
        if len(parts) > 1 and parts[0].lower() == self.obj.name.lower():
            parts = parts[1:]  # `Account.Name` FROM Account is allowed
        for rel in parts[:-1]:
            ref = obj.relationships.get(rel.lower())
            if ref is None:
                raise self.invalid_field(path, rel, obj)
            target = ORG.get(ref.reference_to[0])
            assert target is not None
            canon = (*canon, ref.relationship_name or rel)
            if canon not in self.joins:
                new_alias = f"j{len(self.joins) + 1}"
                self.joins[canon] = (new_alias, target, f"({alias}.body ->> '$.{ref.name}')")
            alias, obj = self.joins[canon][0], target
        fld = obj.field(parts[-1])
        if fld is None:
            raise self.invalid_field(path, parts[-1], obj)
        canon = (*canon, fld.name)
        if fld.name == "Id":
            sql, json_sql = f"{alias}.id", f"{alias}.id"
        elif fld.name == "SystemModstamp":
            # the indexed column repeating the body's value: incremental reads use the index
            sql, json_sql = f"{alias}.system_modstamp", f"{alias}.system_modstamp"
        else:
            sql = f"({alias}.body ->> '$.{fld.name}')"
            json_sql = f"({alias}.body -> '$.{fld.name}')"
        return Column(canon, fld, alias, sql, json_sql)

    def invalid_field(self, path: Path, name: str, obj: SObjectDef) -> SoqlError:
        detail = (
            f"No such column '{name}' on entity '{obj.name}'. If you are attempting to use a "
            "custom field, be sure to append the '__c' after the custom field name. Please "
            "reference your WSDL or the describe call for the appropriate names."
        )
        if len(path.parts) > 1 and name != path.parts[-1]:
            detail = (
                f"Didn't understand relationship '{name}' in field path. If you are attempting "
                "to use a custom relationship, be sure to append the '__r' after the custom "
                "relationship name."
            )
        return SoqlError("INVALID_FIELD", _error(self.q.text, path.column, detail).message)

    # -- conditions ----------------------------------------------------------------------------
    def condition(self, cond: Condition) -> str:
        if isinstance(cond, BoolOp):
            return "(" + f" {cond.op} ".join(self.condition(c) for c in cond.items) + ")"
        if isinstance(cond, Not):
            return f"(NOT {self.condition(cond.item)})"
        if isinstance(cond, InList):
            col = self.resolve(cond.path)
            values = [self.literal(col, v, cond.path) for v in cond.values]
            non_null = [v for v in values if v is not None]
            has_null = len(non_null) != len(values)
            marks = ", ".join("?" for _ in non_null)
            coll = (
                " COLLATE NOCASE"
                if col.field.type in TEXT_TYPES and col.field.type not in ("id", "reference")
                else ""
            )
            self.params.extend(non_null)
            inside = f"{col.sql}{coll} IN ({marks})" if non_null else "0"
            if col.sql.endswith((".id", ".system_modstamp")) and not has_null and non_null:
                return f"({'NOT ' if cond.negate else ''}{inside})"  # indexable, never null
            if has_null:
                inside = f"({inside} OR {col.sql} IS NULL)"
            if cond.negate:
                return f"(NOT COALESCE({inside}, 0))"
            return f"COALESCE({inside}, 0)"
        return self.comparison(cond)

    def comparison(self, cond: Comparison) -> str:
        col = self.resolve(cond.path)
        ftype = col.field.type
        if cond.value is None:
            if cond.op not in ("=", "!="):
                raise self.bad_value(cond.path, col, "null can only be compared with = or !=")
            return f"({col.sql} IS {'NOT ' if cond.op == '!=' else ''}NULL)"
        if cond.op == "LIKE":
            if ftype not in TEXT_TYPES:
                raise self.bad_value(cond.path, col, "LIKE works on text fields only")
            self.params.append(cond.value)
            return f"COALESCE({col.sql} LIKE ? ESCAPE '\\', 0)"
        if isinstance(cond.value, DateLiteral):
            return self.date_range(col, cond)
        if ftype == "boolean" and cond.op not in ("=", "!="):
            raise self.bad_value(cond.path, col, "booleans can only be compared with = or !=")
        value = self.literal(col, cond.value, cond.path)
        coll = " COLLATE NOCASE" if ftype in TEXT_TYPES and ftype not in ("id", "reference") else ""
        self.params.append(value)
        if col.sql.endswith((".id", ".system_modstamp")) and cond.op != "!=":
            return f"{col.sql} {cond.op} ?"  # never null: bare, so SQLite can use the index
        if cond.op == "!=":
            return f"COALESCE({col.sql} IS NOT ?{coll}, 1)"
        return f"COALESCE({col.sql} {cond.op} ?{coll}, 0)"

    def date_range(self, col: Column, cond: Comparison) -> str:
        lit = cond.value
        assert isinstance(lit, DateLiteral)
        if col.field.type not in ("date", "datetime"):
            raise self.bad_value(cond.path, col, f"{lit.name} needs a date or dateTime field")
        today = _today(self.now)
        n = lit.n or 0
        month = date(today.year, today.month, 1)
        last_month = date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)
        next_month = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
        after_next = date(next_month.year + (next_month.month == 12), next_month.month % 12 + 1, 1)
        year = date(today.year, 1, 1)
        start, end = {
            "THIS_MONTH": (month, next_month),
            "LAST_MONTH": (last_month, month),
            "NEXT_MONTH": (next_month, after_next),
            "THIS_YEAR": (year, date(today.year + 1, 1, 1)),
            "LAST_YEAR": (date(today.year - 1, 1, 1), year),
            "NEXT_YEAR": (date(today.year + 1, 1, 1), date(today.year + 2, 1, 1)),
            "TODAY": (today, today + timedelta(days=1)),
            "YESTERDAY": (today - timedelta(days=1), today),
            "TOMORROW": (today + timedelta(days=1), today + timedelta(days=2)),
            "LAST_N_DAYS": (today - timedelta(days=n), today + timedelta(days=1)),
            "NEXT_N_DAYS": (today + timedelta(days=1), today + timedelta(days=n + 1)),
            "N_DAYS_AGO": (today - timedelta(days=n), today - timedelta(days=n - 1)),
        }[lit.name]
        lo, hi = (
            (start.isoformat(), end.isoformat())
            if col.field.type == "date"
            else (sf_datetime_of_date(start), sf_datetime_of_date(end))
        )
        v = col.sql
        sql = {
            "=": f"({v} >= ? AND {v} < ?)",
            "!=": f"NOT COALESCE({v} >= ? AND {v} < ?, 0)",
            "<": f"{v} < ?",
            "<=": f"{v} < ?",
            ">": f"{v} >= ?",
            ">=": f"{v} >= ?",
        }[cond.op]
        params = {
            "=": [lo, hi],
            "!=": [lo, hi],
            "<": [lo],
            "<=": [hi],
            ">": [hi],
            ">=": [lo],
        }[cond.op]
        self.params.extend(params)
        return f"COALESCE({sql}, 0)" if cond.op != "!=" else sql

    def literal(self, col: Column, value: Value, path: Path) -> object:
        ftype = col.field.type
        if value is None:
            return None
        if ftype in TEXT_TYPES:
            if not isinstance(value, str):
                raise self.bad_value(path, col, "must be of type string and should be quoted")
            if ftype in ("id", "reference"):
                return normalize_id(value) or value
            return value
        if ftype in NUMBER_TYPES:
            if not isinstance(value, Decimal):
                raise self.bad_value(path, col, "must be of type double and should not be quoted")
            return int(value) if value == value.to_integral_value() else float(value)
        if ftype == "boolean":
            if not isinstance(value, bool):
                raise self.bad_value(path, col, "must be of type boolean and should not be quoted")
            return 1 if value else 0
        if ftype == "date":
            if not isinstance(value, date) or isinstance(value, datetime):
                raise self.bad_value(path, col, _UNQUOTED.format("date"))
            return value.isoformat()
        if ftype == "datetime":
            if not isinstance(value, datetime):
                raise self.bad_value(path, col, _UNQUOTED.format("dateTime"))
            return sf_datetime(value)
        raise self.bad_value(path, col, "cannot be filtered")

    def bad_value(self, path: Path, col: Column, why: str) -> SoqlError:
        detail = f"value of filter criterion for field '{col.header}' {why}"
        return SoqlError("INVALID_FIELD", _error(self.q.text, path.column, detail).message)


_UNQUOTED = "must be of type {} and should not be enclosed in quotes"


def sf_datetime(value: datetime) -> str:
    """Salesforce's REST datetime text: `2026-11-01T00:00:00.000+0000` (UTC)."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def sf_datetime_of_date(day: date) -> str:
    """Midnight UTC of `day` in Salesforce's datetime text."""
    return f"{day.isoformat()}T00:00:00.000+0000"
