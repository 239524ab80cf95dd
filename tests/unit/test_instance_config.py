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


def test_the_local_instance_pools_its_sqlite_event_log_and_dagster_reads_the_same_files(
    tmp_path: Path,
) -> None:
    import dagster as dg

    from orchestration.instance import PooledSqliteEventLogStorage

    @dg.asset
    def one() -> int:
        return 1

    home = tmp_path / "dagster"
    with open_instance(home) as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        result = dg.materialize([one], instance=instance)
        assert result.success
    # Dagster's own storage (the UI, the daemon) reads what the pooled one wrote
    with dg.DagsterInstance.from_config(str(home)) as stock:
        assert type(stock.event_log_storage) is not PooledSqliteEventLogStorage
        events = stock.all_logs(result.run_id)
        assert any(e.dagster_event_type == dg.DagsterEventType.RUN_SUCCESS for e in events)
        assert stock.get_latest_materialization_event(dg.AssetKey("one")) is not None
    with open_instance(home) as instance:  # and the pooled one reads it back, then wipes it
        assert len(instance.all_logs(result.run_id)) == len(events)
        instance.wipe()
        assert instance.all_logs(result.run_id) == []


def test_an_operators_own_storage_is_left_as_it_is(tmp_path: Path) -> None:
    from dagster._core.instance.ref import InstanceRef

    from orchestration.instance import pooled_instance_ref

    storage = tmp_path / "elsewhere"
    (tmp_path / "dagster.yaml").write_text(
        "event_log_storage:\n"
        "  module: dagster._core.storage.event_log\n"
        "  class: SqliteEventLogStorage\n"
        f"  config:\n    base_dir: {storage}\n"
    )
    ref = InstanceRef.from_dir(str(tmp_path))
    assert pooled_instance_ref(ref) is ref
