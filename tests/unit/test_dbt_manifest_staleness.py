"""The dbt manifest is re-parsed when the project changed after it was written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestration.assets.dbt import manifest_is_stale

pytestmark = pytest.mark.unit


def test_a_missing_or_older_manifest_is_stale_and_a_newer_one_is_not(tmp_path: Path) -> None:
    (tmp_path / "models" / "marts").mkdir(parents=True)
    model = tmp_path / "models" / "marts" / "fct_x.sql"
    model.write_text("select 1")
    (tmp_path / "dbt_project.yml").write_text("name: q2c\n")
    manifest = tmp_path / "target" / "manifest.json"
    assert manifest_is_stale(tmp_path, manifest)
    manifest.parent.mkdir()
    manifest.write_text("{}")
    os.utime(model, (1_000, 1_000))
    os.utime(tmp_path / "dbt_project.yml", (1_000, 1_000))
    os.utime(manifest, (2_000, 2_000))
    assert not manifest_is_stale(tmp_path, manifest)
    os.utime(model, (3_000, 3_000))  # a model edited after the parse
    assert manifest_is_stale(tmp_path, manifest)
    os.utime(model, (1_000, 1_000))
    (tmp_path / "target" / "run_results.json").write_text("{}")  # dbt's own output: not a source
    assert not manifest_is_stale(tmp_path, manifest)
