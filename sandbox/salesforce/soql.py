"""A small recursive-descent parser for the SOQL subset the Salesforce stand-in answers.

Grammar (keywords case-insensitive)::

    query     := SELECT items FROM name [WHERE or_expr] [GROUP BY paths]
                 [ORDER BY order (, order)*] [LIMIT int] [OFFSET int]
    items     := item (, item)*          item := COUNT ( [path] ) [alias] | path
    or_expr   := and_expr (OR and_expr)* and_expr := unary (AND unary)*
    unary     := NOT unary | ( or_expr ) | path op value | path [NOT] IN ( values )
                 | path LIKE 'pattern'
    value     := 'text' | number | TRUE | FALSE | NULL | 2026-01-01 | 2026-01-01T00:00:00Z
                 | TODAY | YESTERDAY | TOMORROW | LAST_N_DAYS:n | NEXT_N_DAYS:n | N_DAYS_AGO:n
                 | THIS_MONTH | LAST_MONTH | NEXT_MONTH | THIS_YEAR | LAST_YEAR | NEXT_YEAR

As in Salesforce, AND and OR may not be mixed at one level without parentheses. The parser
knows nothing about the org's objects; `query_plan` resolves names and types. Errors are
`SoqlError` with Salesforce's `MALFORMED_QUERY` message layout ("ERROR at Row:1:Column:n").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal


class SoqlError(Exception):
    """A query Salesforce would refuse; `code` is its errorCode (MALFORMED_QUERY ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Path:
    """A field reference such as `Name` or `Account.Owner.Name` (parts as typed)."""

    parts: tuple[str, ...]
    column: int = 0

    def __str__(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Count:
    """`COUNT()` (path None) or `COUNT(field)` in the select list."""

    path: Path | None
    alias: str | None = None


@dataclass(frozen=True)
class DateLiteral:
    """A relative date literal (`TODAY`, `LAST_N_DAYS:7`), resolved against the world's clock."""

    name: str
    n: int | None = None


Value = str | Decimal | bool | None | date | datetime | DateLiteral


@dataclass(frozen=True)
class Comparison:
    """`field op value` (`=`, `!=`, `<`, `<=`, `>`, `>=`, `LIKE`)."""

    path: Path
    op: str  # = != < <= > >= LIKE
    value: Value


@dataclass(frozen=True)
class InList:
    """`field [NOT] IN (values)`."""

    path: Path
    values: tuple[Value, ...]
    negate: bool


@dataclass(frozen=True)
class BoolOp:
    """Conditions joined by one operator (AND or OR)."""

    op: str  # AND / OR
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    """`NOT condition`."""

    item: Condition


Condition = Comparison | InList | BoolOp | Not


@dataclass(frozen=True)
class OrderItem:
    """One ORDER BY term."""

    path: Path
    descending: bool = False
    nulls_last: bool | None = None  # None: Salesforce's default for the direction


@dataclass
class Query:
    """A parsed SELECT statement."""

    items: list[Path | Count]
    sobject: str
    where: Condition | None = None
    group_by: list[Path] = field(default_factory=list)
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    text: str = ""


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})(?![\d:T])
  | (?P<number>[+-]?\d+(?:\.\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),:])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    """,
    re.VERBOSE,
)

_KEYWORDS = {
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC",
    "NULLS", "FIRST", "LAST", "LIMIT", "OFFSET", "GROUP", "HAVING", "TRUE", "FALSE", "NULL",
    "COUNT", "TYPEOF", "INCLUDES", "EXCLUDES", "WITH", "FOR", "USING",
}  # fmt: skip
_DATE_LITERALS = {
    "TODAY", "YESTERDAY", "TOMORROW", "THIS_MONTH", "LAST_MONTH", "NEXT_MONTH", "THIS_YEAR",
    "LAST_YEAR", "NEXT_YEAR",
}  # fmt: skip
_DATE_LITERALS_N = {"LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO"}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    col: int  # 1-based, as Salesforce reports it

    @property
    def upper(self) -> str:
        return self.text.upper()


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise _error(text, pos + 1, f"unexpected token: '{text[pos]}'")
        kind = m.lastgroup or ""
        if kind != "ws":
            toks.append(_Tok(kind, m.group(), pos + 1))
        pos = m.end()
    toks.append(_Tok("eof", "<EOF>", len(text) + 1))
    return toks


def _error(text: str, col: int, detail: str, code: str = "MALFORMED_QUERY") -> SoqlError:
    caret = " " * max(col - 1, 0) + "^"
    return SoqlError(code, f"\n{text}\n{caret}\nERROR at Row:1:Column:{col}\n{detail}")


def parse(text: str) -> Query:
    """Parse one SOQL statement.

    Args:
        text: the SOQL text.

    Returns:
        The parsed `Query`.

    Raises:
        SoqlError: MALFORMED_QUERY with the column of the offending token.
    """
    return _Parser(text).query()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0

    # -- token helpers -------------------------------------------------------------------------
    def peek(self, k: int = 0) -> _Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> _Tok:
        tok = self.peek()
        self.i += 1
        return tok

    def at_kw(self, *words: str) -> bool:
        tok = self.peek()
        return tok.kind == "name" and tok.upper in words

    def expect_kw(self, word: str) -> _Tok:
        tok = self.next()
        if tok.kind != "name" or tok.upper != word:
            raise self.unexpected(tok)
        return tok

    def expect(self, text: str) -> _Tok:
        tok = self.next()
        if tok.text != text:
            raise self.unexpected(tok)
        return tok

    def unexpected(self, tok: _Tok) -> SoqlError:
        return _error(self.text, tok.col, f"unexpected token: '{tok.text}'")

    # -- grammar -------------------------------------------------------------------------------
    def query(self) -> Query:
        self.expect_kw("SELECT")
        items = [self.select_item()]
        while self.peek().text == ",":
            self.next()
            items.append(self.select_item())
        self.expect_kw("FROM")
        obj = self.next()
        if obj.kind != "name" or obj.upper in _KEYWORDS or "." in obj.text:
            raise self.unexpected(obj)
        q = Query(items=items, sobject=obj.text, text=self.text)
        if self.at_kw("WHERE"):
            self.next()
            q.where = self.or_expr()
        if self.at_kw("GROUP"):
            self.next()
            self.expect_kw("BY")
            q.group_by.append(self.path())
            while self.peek().text == ",":
                self.next()
                q.group_by.append(self.path())
        if self.at_kw("ORDER"):
            self.next()
            self.expect_kw("BY")
            q.order_by.append(self.order_item())
            while self.peek().text == ",":
                self.next()
                q.order_by.append(self.order_item())
        if self.at_kw("LIMIT"):
            self.next()
            q.limit = self.integer()
        if self.at_kw("OFFSET"):
            self.next()
            q.offset = self.integer()
        tok = self.peek()
        if tok.kind != "eof":
            raise self.unexpected(tok)
        return q

    def integer(self) -> int:
        tok = self.next()
        if tok.kind != "number" or not tok.text.isdigit():
            raise self.unexpected(tok)
        return int(tok.text)

    def select_item(self) -> Path | Count:
        tok = self.peek()
        if tok.text == "(":
            raise _error(
                self.text,
                tok.col,
                "parent-to-child relationship subqueries are not supported by this sandbox",
            )
        if tok.kind == "name" and tok.upper == "TYPEOF":
            raise _error(self.text, tok.col, "TYPEOF is not supported by this sandbox")
        if tok.kind == "name" and tok.upper == "COUNT" and self.peek(1).text == "(":
            self.next()
            self.next()
            path = None if self.peek().text == ")" else self.path()
            self.expect(")")
            alias = None
            if self.peek().kind == "name" and self.peek().upper not in _KEYWORDS:
                alias = self.next().text
            return Count(path, alias)
        return self.path()

    def path(self) -> Path:
        tok = self.next()
        if tok.kind != "name" or tok.upper in _KEYWORDS:
            raise self.unexpected(tok)
        return Path(tuple(tok.text.split(".")), tok.col)

    def order_item(self) -> OrderItem:
        path = self.path()
        desc = False
        nulls_last: bool | None = None
        if self.at_kw("ASC", "DESC"):
            desc = self.next().upper == "DESC"
        if self.at_kw("NULLS"):
            self.next()
            tok = self.next()
            if tok.kind != "name" or tok.upper not in ("FIRST", "LAST"):
                raise self.unexpected(tok)
            nulls_last = tok.upper == "LAST"
        return OrderItem(path, desc, nulls_last)

    def or_expr(self) -> Condition:
        return self.bool_chain()

    def bool_chain(self) -> Condition:
        # Salesforce refuses `a AND b OR c`: one operator per parenthesised level.
        items = [self.unary()]
        op: str | None = None
        while self.at_kw("AND", "OR"):
            tok = self.next()
            if op is not None and tok.upper != op:
                raise self.unexpected(tok)
            op = tok.upper
            items.append(self.unary())
        if op is None:
            return items[0]
        return BoolOp(op, tuple(items))

    def unary(self) -> Condition:
        if self.at_kw("NOT"):
            self.next()
            return Not(self.unary())
        if self.peek().text == "(":
            self.next()
            cond = self.bool_chain()
            self.expect(")")
            return cond
        path = self.path()
        tok = self.next()
        if tok.kind == "op":
            op = "!=" if tok.text == "<>" else tok.text
            return Comparison(path, op, self.value())
        if tok.kind == "name" and tok.upper == "LIKE":
            value = self.value()
            if not isinstance(value, str):
                raise _error(self.text, tok.col, "LIKE needs a quoted string pattern")
            return Comparison(path, "LIKE", value)
        negate = False
        if tok.kind == "name" and tok.upper == "NOT" and self.at_kw("IN"):
            negate = True
            tok = self.next()
        if tok.kind == "name" and tok.upper == "IN":
            self.expect("(")
            if self.at_kw("SELECT"):
                raise _error(self.text, self.peek().col, "semi-join subqueries are not supported")
            values = [self.value()]
            while self.peek().text == ",":
                self.next()
                values.append(self.value())
            self.expect(")")
            return InList(path, tuple(values), negate)
        raise self.unexpected(tok)

    def value(self) -> Value:
        tok = self.next()
        if tok.kind == "string":
            body = tok.text[1:-1]
            return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), body)
        if tok.kind == "number":
            return Decimal(tok.text)
        if tok.kind == "date":
            try:
                return date.fromisoformat(tok.text)
            except ValueError as exc:
                raise _error(self.text, tok.col, f"invalid date: {tok.text}") from exc
        if tok.kind == "datetime":
            return _parse_datetime(self.text, tok)
        if tok.kind == "name":
            word = tok.upper
            if word == "TRUE":
                return True
            if word == "FALSE":
                return False
            if word == "NULL":
                return None
            if word in _DATE_LITERALS:
                return DateLiteral(word)
            if word in _DATE_LITERALS_N:
                self.expect(":")
                return DateLiteral(word, self.integer())
        raise self.unexpected(tok)


def _parse_datetime(text: str, tok: _Tok) -> datetime:
    raw = tok.text.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", raw):
        raw = raw[:-2] + ":" + raw[-2:]
    try:
        return datetime.fromisoformat(raw).astimezone(UTC)
    except ValueError as exc:
        raise _error(text, tok.col, f"invalid dateTime: {tok.text}") from exc
