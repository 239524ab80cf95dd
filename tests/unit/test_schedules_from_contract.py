"""The whole pipeline is scheduled from the contract, and every freshness policy can be met.

Each raw asset's schedule is derived here from `policy/ownership.yml` (its object's
`expected_lag`; the billing change log takes the strictest billing lag) and compared with the
schedule the definitions carry; its freshness policy (`incident_after`) must allow one cadence
plus a run. Every other asset (the dbt layer, gates, outputs) must be in a scheduled job or carry
an automation condition, and the dbt layer must be requested once its raw inputs land.
"""

from __future__ import annotations

from datetime import timedelta
from functools import reduce

import dagster as dg
import pytest

from extractors.billing.objects import PARENT_OF
from orchestration.definitions import SOURCES, build_definitions
from orchestration.environment import current_environment
from orchestration.freshness import CADENCES, Lag, cadence_for, contract_lags
from orchestration.jobs import RUN_BUDGET

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def defs(tmp_path_factory: pytest.TempPathFactory) -> dg.Definitions:
    home = tmp_path_factory.mktemp("q2c_home")
    return build_definitions(current_environment({"Q2C_HOME": str(home)}))


def _expected_lags() -> dict[dg.AssetKey, Lag]:
    """Every raw asset key's lag, read from the contract here (not from the asset modules)."""
    lags: dict[dg.AssetKey, Lag] = {}
    for source, (assets, _) in SOURCES.items():
        names = [k.path[-1] for a in assets for k in a.keys]
        from_contract = contract_lags(source, [n for n in names if n != "event"])
        if "event" in names:  # the change log carries every billing object's changes
            from_contract["event"] = reduce(Lag.tightest, from_contract.values(), Lag())
        for name, lag in from_contract.items():
            lags[dg.AssetKey(["raw", source, name])] = lag
    return lags


def _scheduled(defs: dg.Definitions) -> dict[dg.AssetKey, list[dg.ScheduleDefinition]]:
    graph = defs.resolve_asset_graph()
    out: dict[dg.AssetKey, list[dg.ScheduleDefinition]] = {}
    for schedule in defs.schedules or []:
        job = defs.resolve_job_def(schedule.job_name)
        if job.tags.get("q2c/billing_mode") == "full":
            continue  # the weekly full re-list is extra, not what meets the lag
        for key in job.asset_layer.selected_asset_keys:
            if graph.get(key).is_materializable:
                out.setdefault(key, []).append(schedule)
    return out


def _landed_with(asset: dg.AssetsDefinition, key: dg.AssetKey) -> list[dg.AssetKey]:
    """The keys one step lands together with `key`: all of a multi-asset's tables, or, in
    billing's subsettable listings, the object and its children (a listing lands both)."""
    if not asset.can_subset:
        return list(asset.keys)
    unit = PARENT_OF.get(key.path[-1], key.path[-1])
    return [k for k in asset.keys if PARENT_OF.get(k.path[-1], k.path[-1]) == unit]


def test_every_raw_asset_runs_on_the_cadence_its_contract_lag_asks_for(defs) -> None:
    scheduled = _scheduled(defs)
    lags = _expected_lags()
    by_cron = {c.cron: c for c in CADENCES}
    multi = {k: a for source in SOURCES.values() for a in source[0] for k in a.keys}
    assert set(lags) == set(multi)
    for key, lag in lags.items():
        # tables landed together run at the strictest one's cadence
        strictest = reduce(Lag.tightest, (lags[k] for k in _landed_with(multi[key], key)), Lag())
        (schedule,) = scheduled[key]
        assert schedule.cron_schedule == cadence_for(strictest).cron, key
        assert by_cron[schedule.cron_schedule].interval <= max(lag.expected, CADENCES[0].interval)


def test_every_freshness_policy_can_be_met_by_its_schedule(defs) -> None:
    graph = defs.resolve_asset_graph()
    scheduled = _scheduled(defs)
    by_cron = {c.cron: c for c in CADENCES}
    checked = 0
    for key in graph.materializable_asset_keys:
        policy = graph.get(key).freshness_policy
        if policy is None:
            continue
        fail_window = policy.fail_window.to_timedelta()
        worst = max(by_cron[s.cron_schedule].interval for s in scheduled[key]) + RUN_BUDGET
        assert worst <= fail_window, f"{key.to_user_string()}: {worst} > {fail_window}"
        checked += 1
    assert checked >= len(_expected_lags())


def test_a_policy_tighter_than_any_cadence_would_be_caught() -> None:
    lag = Lag(expected=timedelta(minutes=5), incident_after=timedelta(minutes=10))
    assert cadence_for(lag).interval + RUN_BUDGET > lag.incident_after


def test_every_asset_has_a_schedule_or_an_automation_condition(defs) -> None:
    graph = defs.resolve_asset_graph()
    scheduled = _scheduled(defs)
    orphans = [
        k.to_user_string()
        for k in graph.materializable_asset_keys
        if k not in scheduled and graph.get(k).automation_condition is None
    ]
    assert orphans == []
    dbt_keys = {k for k in graph.materializable_asset_keys if k.path[0] == "reconciliation"}
    assert dbt_keys and all(graph.get(k).automation_condition is not None for k in dbt_keys)


def test_every_asset_is_in_a_job_to_run_it_by_hand(defs) -> None:
    graph = defs.resolve_asset_graph()
    in_a_job = {
        key
        for job in defs.resolve_all_job_defs()
        if not job.name.startswith("__")  # Dagster's implicit all-assets job does not count
        for key in job.asset_layer.selected_asset_keys
    }
    assert sorted(k.to_user_string() for k in graph.materializable_asset_keys - in_a_job) == []
    for stage in ("reports", "compliance", "writeback"):
        selected = defs.resolve_job_def(f"{stage}_job").asset_layer.selected_asset_keys
        assert selected and all(k.path[0] in {stage, "automations"} for k in selected), stage


def test_the_dbt_layer_is_requested_once_its_raw_inputs_have_landed(defs) -> None:
    graph = defs.resolve_asset_graph()
    raw = {k for k in graph.materializable_asset_keys if k.path[0] == "raw"}
    staging = dg.AssetKey(["staging", "stg_billing__invoices"])
    assert staging in graph.materializable_asset_keys
    with dg.instance_for_test() as instance:
        only = dg.AssetSelection.assets(staging)
        first = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=only
        )
        assert not first.get_requested_partitions(staging)  # its inputs have not landed
        for key in raw:
            instance.report_runless_asset_event(dg.AssetMaterialization(key))
        second = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=only, cursor=first.cursor
        )
        assert second.get_requested_partitions(staging) == {None}
