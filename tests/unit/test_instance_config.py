"""The Dagster instances q2c creates (and deploy/) send nothing out and keep one DuckDB writer."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from dagster._core.instance.config import dagster_instance_config

from orchestration.instance import ensure_instance_config, open_instance

pytestmark = pytest.mark.unit

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "dagster.yaml"


def test_a_fresh_local_instance_has_telemetry_off_and_one_warehouse_slot(tmp_path: Path) -> None:
    with open_instance(tmp_path / "dagster") as instance:
        assert (tmp_path / "dagster" / "dagster.yaml").exists()
        config, _ = dagster_instance_config(str(tmp_path / "dagster"))
        assert config["telemetry"] == {"enabled": False}
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        assert config["retention"]["schedule"]["purge_after_days"] > 0


def test_an_operators_dagster_yaml_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    ensure_instance_config(tmp_path)
    assert (tmp_path / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"


def test_the_deploy_instance_validates_with_telemetry_off_and_the_warehouse_pool(
    tmp_path: Path,
) -> None:
    shutil.copy(DEPLOY, tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["telemetry"] == {"enabled": False}
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert "postgres" in config["storage"]
