"""One result shape for the three extractors, one metadata: counts and cursors, never values."""

from __future__ import annotations

import dagster as dg
import pytest

from extractors.result import ExtractResult

pytestmark = pytest.mark.unit


def test_adding_to_the_totals_counts_into_the_results_own_table() -> None:
    result = ExtractResult("salesforce", "account", mode="rest")
    result.landed += 8
    result.duplicates += 2
    result.quarantined += 1
    result.table("account").landed += 1
    assert (result.landed, result.duplicates, result.quarantined) == (9, 2, 1)
    assert set(result.tables) == {"account"}


def test_a_parent_and_its_children_keep_their_own_counts_and_per_table_metadata() -> None:
    result = ExtractResult("billing", "invoice", cursor_before="10", cursor_after="20")
    result.table("invoice").landed = 3
    result.table("line_item").landed = 5
    result.table("line_item").duplicates = 4
    result.api_requests = 7
    assert result.landed == 8
    invoice, lines = result.metadata("invoice"), result.metadata("line_item")
    assert (invoice["rows_landed"], invoice["api_requests"], invoice["table"]) == (
        3,
        7,
        "raw.billing__invoice",
    )
    assert (lines["rows_landed"], lines["duplicates"]) == (5, 4)
    assert (invoice["cursor_before"], invoice["cursor_after"]) == ("10", "20")
    assert result.metadata()["landed_by_table"] == {"invoice": 3, "line_item": 5}


def test_the_three_sources_report_the_same_figures_under_the_same_names() -> None:
    results = [
        ExtractResult("billing", "customer"),
        ExtractResult("salesforce", "account", mode="rest", api_calls_used=3, api_usage="40/15000"),
        ExtractResult("erp", "transaction", mode="incremental", queries=2),
    ]
    common = set.intersection(*(set(r.metadata()) for r in results))
    assert common >= {
        "table",
        "mode",
        "rows_landed",
        "duplicates",
        "quarantined",
        "rows_read",
        "api_requests",
        "retries",
        "cursor_before",
        "cursor_after",
        "cursor_held_at_quarantine",
        "duration_s",
    }
    assert results[1].metadata()["api_usage"] == "40/15000"
    # Dagster takes the metadata as it is (plain values)
    dg.MaterializeResult(metadata=results[1].metadata())


def test_quarantine_reasons_are_deduplicated_and_capped_and_no_record_value_is_carried() -> None:
    result = ExtractResult("salesforce", "account")
    result.quarantine_reasons += [f"field F{i % 12}: not a number" for i in range(40)]
    reasons = result.metadata()["quarantine_reasons"].split("; ")
    assert len(reasons) == 10 and len(set(reasons)) == 10
    assert all(isinstance(v, str | int | float | bool | dict) for v in result.metadata().values())
