"""SOQL text and cursor arithmetic of the incremental extract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from extractors.salesforce.soql import (
    build_query,
    max_stamp,
    overlap_start,
    soql_datetime,
)

pytestmark = pytest.mark.unit


def test_first_run_reads_everything_ordered_by_stamp_then_id():
    assert build_query("Account", ["Id", "Name", "SystemModstamp"]) == (
        "SELECT Id, Name, SystemModstamp FROM Account ORDER BY SystemModstamp ASC, Id ASC"
    )


def test_incremental_filter_is_inclusive_never_a_bare_greater_than():
    since = overlap_start("2026-10-01T12:00:00.000Z", timedelta(minutes=5))
    soql = build_query("Account", ["Name"], since=since)
    assert "WHERE SystemModstamp >= 2026-10-01T11:55:00Z" in soql
    assert "SystemModstamp >" not in soql.replace(">=", "")
    assert soql.startswith("SELECT Id, Name, SystemModstamp FROM Account")


def test_overlap_start_floors_to_the_second_so_no_millisecond_is_skipped():
    start = overlap_start("2026-10-01T12:00:00.999Z", timedelta(minutes=5))
    assert start == datetime(2026, 10, 1, 11, 55, 0, tzinfo=UTC)
    assert overlap_start(None) is None


def test_backfill_window_is_half_open_and_unordered():
    soql = build_query(
        "Case",
        ["Id"],
        since=datetime(2026, 9, 1, tzinfo=UTC),
        until=datetime(2026, 10, 1, tzinfo=UTC),
        order=False,
    )
    assert soql.endswith(
        "WHERE SystemModstamp >= 2026-09-01T00:00:00Z AND SystemModstamp < 2026-10-01T00:00:00Z"
    )


def test_names_that_are_not_identifiers_are_refused():
    with pytest.raises(ValueError):
        build_query("Account; DELETE", ["Id"])
    with pytest.raises(ValueError):
        build_query("Account", ["Id", "Name FROM User --"])


def test_cursor_never_moves_backwards_and_reads_both_datetime_shapes():
    cur = "2026-10-01T12:00:00.000Z"
    assert max_stamp(cur, ["2026-10-01T11:59:00.000+0000"]) == cur
    assert max_stamp(cur, ["2026-10-01T12:00:01.000+0000", None]) == "2026-10-01T12:00:01.000Z"
    assert max_stamp(None, []) is None


def test_soql_datetime_is_utc():
    tz = datetime(2026, 10, 1, 14, 0, tzinfo=UTC).astimezone()
    assert soql_datetime(tz) == "2026-10-01T14:00:00Z"


def test_id_fetch_quotes_validated_ids_only():
    from extractors.salesforce.soql import build_id_query

    soql = build_id_query("Account", ["Id", "Name"], ["001000000000001AAA", "001000000000002"])
    assert soql == (
        "SELECT Id, Name, SystemModstamp FROM Account"
        " WHERE Id IN ('001000000000001AAA', '001000000000002')"
    )
    with pytest.raises(ValueError):
        build_id_query("Account", ["Id"], ["001' OR Name != '"])
