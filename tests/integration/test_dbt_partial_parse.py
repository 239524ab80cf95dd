"""dbt's start-up in a run: each dbt invocation against a warehouse starts from the partial
parse the last one against that warehouse left, so an unchanged project is not parsed again."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.assets.dbt import build_dbt_resource, keep_partial_parse

pytestmark = pytest.mark.integration

FULL_PARSE = "Unable to do partial parsing"


def _parse(resource, target: Path) -> str:
    invocation = resource.cli(["parse"], target_path=target)
    invocation.wait()
    keep_partial_parse(resource, invocation)
    return (target / "dbt.log").read_text()


def test_the_second_invocation_against_a_warehouse_reuses_the_first_ones_parse(
    tmp_path: Path,
) -> None:
    resource = build_dbt_resource(f"duckdb:///{tmp_path}/w.duckdb")
    assert not resource.partial_parse_path().exists()
    assert FULL_PARSE in _parse(resource, tmp_path / "first")  # nothing kept for this warehouse
    assert resource.partial_parse_path().exists()
    assert FULL_PARSE not in _parse(resource, tmp_path / "second")
    # another warehouse is another profile (dbt would parse in full): kept apart
    other = build_dbt_resource(f"duckdb:///{tmp_path}/other.duckdb")
    assert other.partial_parse_path() != resource.partial_parse_path()
