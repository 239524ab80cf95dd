"""A validated SuiteQL subset, translated to parameterised SQLite SQL over `erp.sqlite`.

The stand-in never executes the text it receives. It tokenizes and parses the query into a
small tree, checks every table and column against the ERP schema (INTERFACES.md section 1), and
emits SQLite SQL in which every identifier is a quoted, validated name and every literal is a
`?` parameter. Anything outside the subset is a `SuiteQLError` (the app answers NetSuite's 400).

The subset (what an extractor needs):
- `SELECT [DISTINCT] * | t.* | expr [AS alias], ...`; expressions are columns (`col`,
  `t.col`), literals, `COUNT(*)`, `COUNT(col)`, `MIN(col)`, `MAX(col)` (not on amount
  columns: they are decimal strings), `UPPER`/`LOWER`, `TO_DATE(text, fmt)`,
  `TO_TIMESTAMP(text, fmt)` and `TO_CHAR(date column, fmt)`.
- `FROM table [alias]` with any number of `[INNER | LEFT [OUTER]] JOIN table [alias] ON cond`.
- `WHERE` with `AND`, `OR`, `NOT`, parentheses, `= <> != < <= > >=`, `[NOT] IN (...)`,
  `IS [NOT] NULL`, `[NOT] BETWEEN a AND b`, `[NOT] LIKE 'pattern'`.
- `GROUP BY` columns, `ORDER BY expr | alias | position [ASC|DESC] [NULLS FIRST|LAST]`.

Date and time semantics: `trandate`, `startdate`, `enddate` are dates stored `YYYY-MM-DD`;
`datecreated`, `createddate`, `lastmodifieddate` are timestamps stored `YYYY-MM-DDTHH:MM:SSZ`.
A literal compared with such a column (a `TO_DATE`/`TO_TIMESTAMP` value or a plain string in
ISO `YYYY-MM-DD[ HH:MM:SS]` or NetSuite's `M/D/YYYY` form) is normalised to the column's stored
form first, so comparisons are exact. Amount columns (`foreigntotal`, `foreignamount`,
`debitforeignamount`, `creditforeignamount`) compare numerically.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TABLES: dict[str, tuple[str, ...]] = {
    "subsidiary": ("id", "name", "currency"),
    "currency": ("id", "symbol", "name"),
    "account": ("id", "acctnumber", "acctname", "accttype"),
    "accountingperiod": (
        "id",
        "periodname",
        "startdate",
        "enddate",
        "closed",
        "isquarter",
        "isyear",
    ),
    "customer": (
        "id",
        "entityid",
        "companyname",
        "externalid",
        "currency",
        "subsidiary",
        "email",
        "datecreated",
        "lastmodifieddate",
    ),
    "transaction": (
        "id",
        "tranid",
        "type",
        "trandate",
        "postingperiod",
        "entity",
        "currency",
        "foreigntotal",
        "externalid",
        "memo",
        "status",
        "createddate",
        "lastmodifieddate",
    ),
    "previoustransactionlinelink": (
        "previousdoc",
        "previousline",
        "nextdoc",
        "nextline",
        "linktype",
        "foreignamount",
    ),
    "transactionline": (
        "id",
        "transaction",
        "linesequencenumber",
        "account",
        "foreignamount",
        "debitforeignamount",
        "creditforeignamount",
        "memo",
        "entity",
    ),
}
"""The tables SuiteQL may read, with their columns in `SELECT *` order."""

DATE_COLUMNS = frozenset({"trandate", "startdate", "enddate"})
TIMESTAMP_COLUMNS = frozenset({"datecreated", "createddate", "lastmodifieddate"})
AMOUNT_COLUMNS = frozenset(
    {"foreigntotal", "foreignamount", "debitforeignamount", "creditforeignamount"}
)

MAX_QUERY_CHARS = 100_000


class SuiteQLError(ValueError):
    """The query is outside the supported subset or names something that does not exist."""


# ---------------------------------------------------------------- tokens

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<str>'(?:[^']|'')*')
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<qident>"[A-Za-z_][A-Za-z0-9_]*")
  | (?P<op><=|>=|<>|!=|=|<|>|\(|\)|,|\.|\*|-)
    """,
    re.VERBOSE,
)

KEYWORDS = frozenset(
    """select distinct from where and or not in is null like between order by asc desc as join
    inner left outer on group nulls first last""".split()
)


@dataclass(frozen=True)
class Token:
    kind: str  # str, num, ident, kw, op, end
    value: str
    pos: int


def tokenize(text: str) -> list[Token]:
    """Split SuiteQL text into tokens; unknown characters are an error (no comments, no `;`)."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise SuiteQLError(f"unexpected character {text[pos]!r} at position {pos}")
        kind = m.lastgroup or ""
        value = m.group()
        if kind == "ident" and value.lower() in KEYWORDS:
            tokens.append(Token("kw", value.lower(), pos))
        elif kind == "ident":
            tokens.append(Token("ident", value.lower(), pos))
        elif kind == "qident":
            tokens.append(Token("ident", value[1:-1].lower(), pos))
        elif kind == "str":
            tokens.append(Token("str", value[1:-1].replace("''", "'"), pos))
        elif kind != "ws":
            tokens.append(Token(kind, value, pos))
        pos = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


# ---------------------------------------------------------------- tree


@dataclass(frozen=True)
class Col:
    qualifier: str | None
    name: str


@dataclass(frozen=True)
class Star:
    qualifier: str | None


@dataclass(frozen=True)
class Lit:
    value: str | int | float | None


@dataclass(frozen=True)
class DateLit:
    value: datetime
    has_time: bool


@dataclass(frozen=True)
class Func:
    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Cmp:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND / OR
    parts: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    inner: Any


@dataclass(frozen=True)
class InList:
    expr: Any
    items: tuple[Any, ...]
    negated: bool


@dataclass(frozen=True)
class IsNull:
    expr: Any
    negated: bool


@dataclass(frozen=True)
class Between:
    expr: Any
    low: Any
    high: Any
    negated: bool


@dataclass(frozen=True)
class Like:
    expr: Any
    pattern: Any
    negated: bool


@dataclass
class TableRef:
    table: str
    alias: str


@dataclass
class Join:
    kind: str  # INNER / LEFT
    table: TableRef
    on: Any


@dataclass
class SelectItem:
    expr: Any
    alias: str | None


@dataclass
class Query:
    distinct: bool
    items: list[SelectItem]
    source: TableRef
    joins: list[Join] = field(default_factory=list)
    where: Any = None
    group_by: list[Any] = field(default_factory=list)
    order_by: list[tuple[Any, str, str | None]] = field(default_factory=list)


# ---------------------------------------------------------------- parser

_FORMAT_CODES = [("YYYY", "%Y"), ("HH24", "%H"), ("MM", "%m"), ("DD", "%d"), ("MI", "%M")]
_FORMAT_CODES += [("SS", "%S"), ("HH", "%H")]
_SCALAR_FUNCS = {"upper", "lower"}
_AGG_FUNCS = {"count", "min", "max"}


def _oracle_to_strftime(fmt: str) -> str:
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == '"':  # quoted literal text, as Oracle reads it: "T"
            end = fmt.find('"', i + 1)
            if end < 0:
                raise SuiteQLError(f"unterminated quoted text in date format {fmt!r}")
            out.append(fmt[i + 1 : end].replace("%", "%%"))
            i = end + 1
            continue
        for code, repl in _FORMAT_CODES:
            if fmt[i : i + len(code)].upper() == code:
                out.append(repl)
                i += len(code)
                break
        else:
            if fmt[i].isalpha():
                raise SuiteQLError(f"unsupported date format element in {fmt!r}")
            out.append(fmt[i])
            i += 1
    return "".join(out)


def parse_datetime_literal(text: str) -> DateLit:
    """Parse a date/time literal in ISO or NetSuite's `M/D/YYYY` form."""
    for fmt, has_time in (
        ("%Y-%m-%d", False),
        ("%Y-%m-%d %H:%M:%S", True),
        ("%Y-%m-%dT%H:%M:%SZ", True),
        ("%Y-%m-%dT%H:%M:%S", True),
        ("%m/%d/%Y", False),
        ("%m/%d/%Y %H:%M:%S", True),
    ):
        try:
            return DateLit(datetime.strptime(text.strip(), fmt), has_time)
        except ValueError:
            continue
    raise SuiteQLError(f"cannot read {text!r} as a date or timestamp")


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _next(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def _accept_kw(self, *words: str) -> bool:
        if self.tok.kind == "kw" and self.tok.value in words:
            self.i += 1
            return True
        return False

    def _expect_kw(self, word: str) -> None:
        if not self._accept_kw(word):
            raise self._error(f"expected {word.upper()}")

    def _accept_op(self, op: str) -> bool:
        if self.tok.kind == "op" and self.tok.value == op:
            self.i += 1
            return True
        return False

    def _expect_op(self, op: str) -> None:
        if not self._accept_op(op):
            raise self._error(f"expected {op!r}")

    def _error(self, what: str) -> SuiteQLError:
        t = self.tok
        found = "end of query" if t.kind == "end" else repr(t.value)
        return SuiteQLError(f"{what}, found {found} at position {t.pos}")

    def _ident(self) -> str:
        if self.tok.kind != "ident":
            raise self._error("expected an identifier")
        return self._next().value

    # query := SELECT ... FROM ... [JOIN ...] [WHERE] [GROUP BY] [ORDER BY]
    def query(self) -> Query:
        self._expect_kw("select")
        distinct = self._accept_kw("distinct")
        items = [self._select_item()]
        while self._accept_op(","):
            items.append(self._select_item())
        self._expect_kw("from")
        q = Query(distinct=distinct, items=items, source=self._table_ref())
        while True:
            if self._accept_kw("join"):
                kind = "INNER"
            elif self._accept_kw("inner"):
                self._expect_kw("join")
                kind = "INNER"
            elif self._accept_kw("left"):
                self._accept_kw("outer")
                self._expect_kw("join")
                kind = "LEFT"
            else:
                break
            ref = self._table_ref()
            self._expect_kw("on")
            q.joins.append(Join(kind, ref, self._expr()))
        if self._accept_kw("where"):
            q.where = self._expr()
        if self._accept_kw("group"):
            self._expect_kw("by")
            q.group_by.append(self._operand())
            while self._accept_op(","):
                q.group_by.append(self._operand())
        if self._accept_kw("order"):
            self._expect_kw("by")
            q.order_by.append(self._order_item())
            while self._accept_op(","):
                q.order_by.append(self._order_item())
        if self.tok.kind != "end":
            raise self._error("unexpected text after the query")
        return q

    def _select_item(self) -> SelectItem:
        if self._accept_op("*"):
            return SelectItem(Star(None), None)
        if (
            self.tok.kind == "ident"
            and self.tokens[self.i + 1].value == "."
            and self.tokens[self.i + 2].value == "*"
        ):
            qualifier = self._next().value
            self.i += 2
            return SelectItem(Star(qualifier), None)
        expr = self._operand()
        alias = None
        if self._accept_kw("as") or self.tok.kind == "ident":
            alias = self._ident()
        return SelectItem(expr, alias)

    def _table_ref(self) -> TableRef:
        name = self._ident()
        if name not in TABLES:
            raise SuiteQLError(f"Record '{name}' was not found.")
        alias = name
        if self._accept_kw("as") or self.tok.kind == "ident":
            alias = self._ident()
        return TableRef(name, alias)

    def _order_item(self) -> tuple[Any, str, str | None]:
        expr = self._operand()
        direction = "ASC"
        if self._accept_kw("desc"):
            direction = "DESC"
        else:
            self._accept_kw("asc")
        nulls = None
        if self._accept_kw("nulls"):
            if self._accept_kw("first"):
                nulls = "FIRST"
            else:
                self._expect_kw("last")
                nulls = "LAST"
        return expr, direction, nulls

    def _expr(self) -> Any:
        parts = [self._and()]
        while self._accept_kw("or"):
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else BoolOp("OR", tuple(parts))

    def _and(self) -> Any:
        parts = [self._not()]
        while self._accept_kw("and"):
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else BoolOp("AND", tuple(parts))

    def _not(self) -> Any:
        if self._accept_kw("not"):
            return Not(self._not())
        return self._predicate()

    def _predicate(self) -> Any:
        # A parenthesis here opens a condition group, unless it wraps a plain operand.
        if self.tok.kind == "op" and self.tok.value == "(":
            save = self.i
            self.i += 1
            try:
                inner = self._expr()
                self._expect_op(")")
            except SuiteQLError:
                inner = None
            if isinstance(inner, Cmp | BoolOp | Not | InList | IsNull | Between | Like):
                return inner
            self.i = save
        left = self._operand()
        if self.tok.kind == "op" and self.tok.value in ("=", "<>", "!=", "<", "<=", ">", ">="):
            op = self._next().value
            return Cmp("<>" if op == "!=" else op, left, self._operand())
        if self._accept_kw("is"):
            negated = self._accept_kw("not")
            self._expect_kw("null")
            return IsNull(left, negated)
        negated = self._accept_kw("not")
        if self._accept_kw("in"):
            self._expect_op("(")
            items = [self._operand()]
            while self._accept_op(","):
                items.append(self._operand())
            self._expect_op(")")
            return InList(left, tuple(items), negated)
        if self._accept_kw("between"):
            low = self._operand()
            self._expect_kw("and")
            return Between(left, low, self._operand(), negated)
        if self._accept_kw("like"):
            return Like(left, self._operand(), negated)
        raise self._error("expected a comparison")

    def _operand(self) -> Any:
        t = self.tok
        if t.kind == "str":
            self.i += 1
            return Lit(t.value)
        if t.kind == "num":
            self.i += 1
            return Lit(float(t.value) if "." in t.value else int(t.value))
        if t.kind == "op" and t.value == "-" and self.tokens[self.i + 1].kind == "num":
            self.i += 1
            lit = self._operand()
            return Lit(-lit.value)
        if t.kind == "kw" and t.value == "null":
            self.i += 1
            return Lit(None)
        if t.kind == "op" and t.value == "(":
            self.i += 1
            inner = self._operand()
            self._expect_op(")")
            return inner
        if t.kind == "ident":
            name = self._next().value
            if self._accept_op("("):
                return self._function(name)
            if self._accept_op("."):
                return Col(name, self._ident())
            return Col(None, name)
        raise self._error("expected a column, a literal or a function")

    def _function(self, name: str) -> Any:
        if name == "count" and self._accept_op("*"):
            self._expect_op(")")
            return Func("count", (Star(None),))
        args = []
        if not self._accept_op(")"):
            args.append(self._operand())
            while self._accept_op(","):
                args.append(self._operand())
            self._expect_op(")")
        if name in ("to_date", "to_timestamp"):
            if not (len(args) in (1, 2) and all(isinstance(a, Lit) for a in args)):
                raise SuiteQLError(f"{name.upper()} takes a text literal and a format literal")
            text = str(args[0].value)
            if len(args) == 1:
                return parse_datetime_literal(text)
            try:
                value = datetime.strptime(text, _oracle_to_strftime(str(args[1].value)))
            except ValueError as exc:
                raise SuiteQLError(f"{name.upper()}({text!r}) does not match its format") from exc
            return DateLit(value, name == "to_timestamp")
        if name == "to_char":
            if len(args) != 2 or not isinstance(args[0], Col) or not isinstance(args[1], Lit):
                raise SuiteQLError("TO_CHAR takes a date column and a format literal")
            return Func("to_char", (args[0], _oracle_to_strftime(str(args[1].value))))
        if name in _SCALAR_FUNCS | _AGG_FUNCS:
            if len(args) != 1:
                raise SuiteQLError(f"{name.upper()} takes one argument")
            return Func(name, tuple(args))
        raise SuiteQLError(f"function {name.upper()} is not supported by this stand-in")


def parse(text: str) -> Query:
    """Parse SuiteQL text into a `Query`, or raise `SuiteQLError`."""
    if not text or not text.strip():
        raise SuiteQLError("the query is empty")
    if len(text) > MAX_QUERY_CHARS:
        raise SuiteQLError("the query is too long")
    return _Parser(tokenize(text)).query()


# ---------------------------------------------------------------- SQL emission


@dataclass(frozen=True)
class Translation:
    """SQLite SQL for one SuiteQL query: the row query, its column names, and a count query."""

    sql: str
    params: tuple[Any, ...]
    columns: tuple[str, ...]
    count_sql: str
    count_params: tuple[Any, ...]
    tables: frozenset[str]
    source: str = ""  # the FROM table
    #: per output column: "date" or "timestamp" for a plain date/timestamp column (answered in
    #: the account's date preference), None for anything else (TO_CHAR output included)
    column_kinds: tuple[str | None, ...] = ()


def _q(name: str) -> str:
    return '"' + name + '"'


class _Emitter:
    def __init__(self, query: Query) -> None:
        self.query = query
        self.aliases: dict[str, str] = {}
        for ref in [query.source, *(j.table for j in query.joins)]:
            if ref.alias in self.aliases:
                raise SuiteQLError(f"alias {ref.alias!r} is used twice")
            self.aliases[ref.alias] = ref.table
        self.params: list[Any] = []

    def resolve(self, col: Col) -> tuple[str, str]:
        if col.qualifier is not None:
            table = self.aliases.get(col.qualifier)
            if table is None:
                raise SuiteQLError(f"Unknown identifier '{col.qualifier}'.")
            if col.name not in TABLES[table]:
                raise SuiteQLError(f"Field '{col.name}' for record '{table}' was not found.")
            return col.qualifier, col.name
        owners = [a for a, t in self.aliases.items() if col.name in TABLES[t]]
        if not owners:
            raise SuiteQLError(f"Unknown identifier '{col.name}'.")
        if len(owners) > 1:
            raise SuiteQLError(f"Identifier '{col.name}' is ambiguous: qualify it.")
        return owners[0], col.name

    def _column_kind(self, node: Any) -> str | None:
        if isinstance(node, Col):
            name = self.resolve(node)[1]
            if name in DATE_COLUMNS:
                return "date"
            if name in TIMESTAMP_COLUMNS:
                return "timestamp"
            if name in AMOUNT_COLUMNS:
                return "amount"
        return None

    def value(self, node: Any, kind: str | None = None) -> str:
        """Emit an operand; `kind` is the column kind it is compared with."""
        if isinstance(node, Col):
            alias, name = self.resolve(node)
            sql = f"{_q(alias)}.{_q(name)}"
            if name in AMOUNT_COLUMNS and kind == "numeric":
                return f"CAST({sql} AS NUMERIC)"
            return sql
        if isinstance(node, DateLit):
            if kind == "date":
                self.params.append(node.value.strftime("%Y-%m-%d"))
            else:
                self.params.append(node.value.strftime("%Y-%m-%dT%H:%M:%SZ"))
            return "?"
        if isinstance(node, Lit):
            if node.value is None:
                return "NULL"
            if kind in ("date", "timestamp") and isinstance(node.value, str):
                return self.value(parse_datetime_literal(node.value), kind)
            self.params.append(node.value)
            # '100.50' against an amount: compare as numbers (SQLite ranks any text above
            # every number, so a text literal would never compare as meant)
            return "CAST(? AS NUMERIC)" if kind == "numeric" else "?"
        if isinstance(node, Func):
            return self.func(node)
        raise SuiteQLError("unsupported operand")

    def func(self, node: Func) -> str:
        if node.name == "count":
            arg = node.args[0]
            return "COUNT(*)" if isinstance(arg, Star) else f"COUNT({self.value(arg)})"
        if node.name in ("min", "max"):
            arg = node.args[0]
            if isinstance(arg, Col) and self.resolve(arg)[1] in AMOUNT_COLUMNS:
                raise SuiteQLError(f"{node.name.upper()} on an amount column is not supported")
            return f"{node.name.upper()}({self.value(arg)})"
        if node.name in ("upper", "lower"):
            return f"{node.name.upper()}({self.value(node.args[0])})"
        if node.name == "to_char":
            col, fmt = node.args
            if self.resolve(col)[1] not in DATE_COLUMNS | TIMESTAMP_COLUMNS:
                raise SuiteQLError("TO_CHAR takes a date or timestamp column")
            self.params.append(fmt)
            return f"strftime(?, {self.value(col)})"
        raise SuiteQLError(f"function {node.name.upper()} is not supported")

    def cond(self, node: Any) -> str:
        if isinstance(node, BoolOp):
            return "(" + f" {node.op} ".join(self.cond(p) for p in node.parts) + ")"
        if isinstance(node, Not):
            return f"(NOT {self.cond(node.inner)})"
        if isinstance(node, Cmp):
            kind = self._pair_kind(node.left, node.right)
            return f"({self.value(node.left, kind)} {node.op} {self.value(node.right, kind)})"
        if isinstance(node, IsNull):
            return f"({self.value(node.expr)} IS {'NOT ' if node.negated else ''}NULL)"
        if isinstance(node, InList):
            kind = self._pair_kind(node.expr, *node.items)
            left = self.value(node.expr, kind)
            items = ", ".join(self.value(i, kind) for i in node.items)
            return f"({left} {'NOT ' if node.negated else ''}IN ({items}))"
        if isinstance(node, Between):
            kind = self._pair_kind(node.expr, node.low, node.high)
            left = self.value(node.expr, kind)
            low, high = self.value(node.low, kind), self.value(node.high, kind)
            return f"({left} {'NOT ' if node.negated else ''}BETWEEN {low} AND {high})"
        if isinstance(node, Like):
            if not isinstance(node.pattern, Lit) or not isinstance(node.pattern.value, str):
                raise SuiteQLError("LIKE takes a text pattern")
            # Oracle's LIKE is case-sensitive; SQLite's is not unless told.
            left = self.value(node.expr)
            pattern = self.value(node.pattern)
            neg = "NOT " if node.negated else ""
            return f"({left} {neg}GLOB {self._like_to_glob(pattern)})"
        raise SuiteQLError("unsupported condition")

    def _like_to_glob(self, placeholder: str) -> str:
        pattern = self.params.pop()
        glob = "".join(
            "*" if c == "%" else "?" if c == "_" else f"[{c}]" if c in "*?[]" else c
            for c in pattern
        )
        self.params.append(glob)
        return placeholder

    def _pair_kind(self, *nodes: Any) -> str | None:
        kinds = {self._column_kind(n) for n in nodes} - {None}
        if "amount" in kinds:
            return "numeric"
        if "timestamp" in kinds:
            return "timestamp"
        if "date" in kinds:
            return "date"
        return None

    def select_list(self) -> tuple[list[str], list[str], list[str | None]]:
        sql, names, kinds = [], [], []
        expr_n = 0
        for item in self.query.items:
            if isinstance(item.expr, Star):
                refs = (
                    list(self.aliases.items())
                    if item.expr.qualifier is None
                    else [(item.expr.qualifier, self.aliases.get(item.expr.qualifier))]
                )
                for alias, table in refs:
                    if table is None:
                        raise SuiteQLError(f"Unknown identifier '{alias}'.")
                    for col in TABLES[table]:
                        sql.append(f"{_q(alias)}.{_q(col)}")
                        names.append(col)
                        kinds.append(_date_kind(col))
                continue
            sql.append(self.value(item.expr))
            is_col = isinstance(item.expr, Col)
            kinds.append(_date_kind(self.resolve(item.expr)[1]) if is_col else None)
            if item.alias:
                names.append(item.alias)
            elif isinstance(item.expr, Col):
                names.append(item.expr.name)
            else:
                expr_n += 1
                names.append(f"expr{expr_n}")
        return sql, names, kinds


def _date_kind(column: str) -> str | None:
    if column in DATE_COLUMNS:
        return "date"
    return "timestamp" if column in TIMESTAMP_COLUMNS else None


def translate(text: str) -> Translation:
    """Translate SuiteQL text into parameterised SQLite SQL.

    Args:
        text: the SuiteQL query as the client sent it.

    Returns:
        The row query (to be run with `LIMIT ? OFFSET ?` appended), the output column names
        and a `COUNT(*)` query for `totalResults`.

    Raises:
        SuiteQLError: the query is outside the subset or names an unknown table or column.
    """
    query = parse(text)
    em = _Emitter(query)
    select_sql, names, kinds = em.select_list()
    select_params = list(em.params)
    em.params = []
    from_sql = f"{_q(query.source.table)} AS {_q(query.source.alias)}"
    for join in query.joins:
        on_sql = em.cond(join.on)
        from_sql += f" {join.kind} JOIN {_q(join.table.table)} AS {_q(join.table.alias)}"
        from_sql += f" ON {on_sql}"
    where_sql = f" WHERE {em.cond(query.where)}" if query.where is not None else ""
    group_sql = ""
    if query.group_by:
        group_sql = " GROUP BY " + ", ".join(em.value(g) for g in query.group_by)
    body_params = list(em.params)
    em.params = []
    order_parts = []
    for expr, direction, nulls in query.order_by:
        if isinstance(expr, Lit) and isinstance(expr.value, int):
            if not 1 <= expr.value <= len(names):
                raise SuiteQLError(f"ORDER BY position {expr.value} is out of range")
            target = str(expr.value)
        elif isinstance(expr, Col) and expr.qualifier is None and expr.name in names:
            target = str(names.index(expr.name) + 1)
        else:
            target = em.value(expr)
        order_parts.append(f"{target} {direction}" + (f" NULLS {nulls}" if nulls else ""))
    order_params = list(em.params)
    order_sql = " ORDER BY " + ", ".join(order_parts) if order_parts else ""
    distinct = "DISTINCT " if query.distinct else ""
    core = f"SELECT {distinct}{', '.join(select_sql)} FROM {from_sql}{where_sql}{group_sql}"
    return Translation(
        sql=core + order_sql,
        params=(*select_params, *body_params, *order_params),
        columns=tuple(names),
        count_sql=f"SELECT COUNT(*) FROM ({core})",
        count_params=(*select_params, *body_params),
        tables=frozenset(em.aliases.values()),
        source=query.source.table,
        column_kinds=tuple(kinds),
    )


#: NetSuite's date format preference elements (Set Preferences > Date Format):
#: YYYY, MM/M (month with/without zero), DD/D (day), Mon (Jan), MONTH (January)
_PREF_CODES = (
    ("YYYY", "%Y"),
    ("MONTH", "%B"),
    ("Mon", "%b"),
    ("MM", "%m"),
    ("DD", "%d"),
    ("M", "{month}"),
    ("D", "{day}"),
)

#: the stand-in's default preference (a US account)
DEFAULT_DATE_FORMAT = "M/D/YYYY"


def check_date_format(fmt: str) -> str:
    """`fmt` if it is a date preference this stand-in renders, else `SuiteQLError`."""
    rest = fmt
    for code, _ in _PREF_CODES:
        rest = rest.replace(code, "")
    if any(c.isalpha() for c in rest) or "YYYY" not in fmt:
        raise SuiteQLError(f"unsupported date format preference {fmt!r}")
    return fmt


def format_preference(stored: str, fmt: str) -> str:
    """A stored date (`YYYY-MM-DD`) or timestamp (`YYYY-MM-DDTHH:MM:SSZ`) as a plain SuiteQL
    column answers it under the date preference `fmt`: the date only (a timestamp loses its
    time unless selected through TO_CHAR), e.g. `10/5/2026` or `5.10.2026`."""
    day = datetime.strptime(stored[:10], "%Y-%m-%d")
    out, i = [], 0
    while i < len(fmt):
        for code, repl in _PREF_CODES:
            if fmt.startswith(code, i):
                out.append(day.strftime(repl).format(month=day.month, day=day.day))
                i += len(code)
                break
        else:
            out.append(fmt[i])
            i += 1
    return "".join(out)
