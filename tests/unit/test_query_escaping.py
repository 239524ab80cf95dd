"""Values from data reach SOQL and SuiteQL only as escaped literals (issue 15: `O'Brien`,
`' OR Name != '`), never by concatenation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from extractors.erp.tables import suiteql_string, suiteql_timestamp
from extractors.salesforce.soql import build_id_query, soql_string

pytestmark = pytest.mark.unit

INJECTIONS = ["O'Brien", "' OR Name != '", "x\\' OR Id != '", "a\nb"]


def _soql_unquote(literal: str) -> str:
    """Read a SOQL literal back the way Salesforce does (escapes), failing on a bare quote."""
    assert literal[0] == literal[-1] == "'"
    out, i, body = [], 0, literal[1:-1]
    unescape = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}
    while i < len(body):
        c = body[i]
        if c == "\\":
            out.append(unescape.get(body[i + 1], body[i + 1]))
            i += 2
            continue
        assert c != "'", f"unescaped quote ends the literal early: {literal}"
        out.append(c)
        i += 1
    return "".join(out)


@pytest.mark.parametrize("value", INJECTIONS)
def test_soql_literal_round_trips_and_cannot_close_early(value: str) -> None:
    literal = soql_string(value)
    assert _soql_unquote(literal) == value


def test_soql_injection_examples() -> None:
    assert soql_string("O'Brien") == "'O\\'Brien'"
    assert soql_string("' OR Name != '") == "'\\' OR Name != \\''"


def test_soql_id_query_refuses_anything_but_ids() -> None:
    with pytest.raises(ValueError):
        build_id_query("Account", ["Id"], ["' OR Name != '"])
    assert build_id_query("Account", ["Id"], ["001000000000001AAA"]).endswith(
        "WHERE Id IN ('001000000000001AAA')"
    )


@pytest.mark.parametrize("value", INJECTIONS)
def test_suiteql_literal_doubles_quotes(value: str) -> None:
    literal = suiteql_string(value)
    body = literal[1:-1]
    assert literal[0] == literal[-1] == "'"
    assert body.replace("''", "").count("'") == 0
    assert body.replace("''", "'") == value


def test_suiteql_injection_examples_and_nul() -> None:
    assert suiteql_string("O'Brien") == "'O''Brien'"
    assert suiteql_string("' OR Name != '") == "''' OR Name != '''"
    with pytest.raises(ValueError):
        suiteql_string("a\x00b")
    assert suiteql_timestamp(datetime(2026, 10, 1, 12, tzinfo=UTC)) == (
        "TO_TIMESTAMP('2026-10-01 12:00:00', 'YYYY-MM-DD HH24:MI:SS')"
    )
