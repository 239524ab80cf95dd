"""Fault decisions of the billing stand-in: triggers, determinism and page rewriting."""

from __future__ import annotations

import json

import pytest

from sandbox.billing.faults import FaultConfigError, Faults, apply_page_faults, unit_hash

pytestmark = pytest.mark.unit


def _kinds(faults: Faults, n: int, path: str = "/v1/charges", method: str = "GET") -> list[str]:
    return [",".join(d.kind for d in faults.decide(method, path, now=0.0)) for _ in range(n)]


def test_every_and_burst_fail_the_first_requests_of_each_period() -> None:
    faults = Faults({"server_errors": {"every": 4, "burst": 2}})
    assert _kinds(faults, 8) == ["server_errors", "server_errors", "", ""] * 2


def test_count_fires_for_the_next_n_requests_only() -> None:
    faults = Faults({"drop_connection": {"count": 2}})
    assert _kinds(faults, 4) == ["drop_connection", "drop_connection", "", ""]
    assert faults.fired == {"drop_connection": 2}


def test_probability_is_a_seeded_sequence() -> None:
    config = {"seed": 9, "rate_limit": {"probability": 0.5}}
    first, second = Faults(config), Faults(config)
    assert _kinds(first, 50) == _kinds(second, 50)
    assert 5 < _kinds(Faults(config), 50).count("rate_limit") < 45
    assert _kinds(Faults({**config, "seed": 10}), 50) != _kinds(Faults(config), 50)


def test_per_second_rate_limit_uses_a_rolling_window() -> None:
    faults = Faults({"rate_limit": {"per_second": 2}})
    at = [faults.decide("GET", "/v1/charges", now=t) for t in (0.0, 0.1, 0.2, 1.05, 1.06)]
    assert [bool(d) for d in at] == [False, False, True, False, True]


def test_slow_combines_with_one_terminating_fault() -> None:
    faults = Faults({"slow": {"delay_ms": 50}, "server_errors": {}, "timeout": {}})
    decisions = faults.decide("GET", "/v1/charges", now=0.0)
    assert [d.kind for d in decisions] == ["slow", "server_errors"]
    assert decisions[0].seconds == 0.05 and decisions[1].status == 500


def test_paths_and_methods_narrow_matching() -> None:
    faults = Faults({"server_errors": {"paths": ["/v1/refunds"], "methods": ["POST"]}})
    assert _kinds(faults, 1, "/v1/refunds", "GET") == [""]
    assert _kinds(faults, 1, "/v1/charges", "POST") == [""]
    assert _kinds(faults, 1, "/v1/refunds", "POST") == ["server_errors"]


def test_update_merges_removes_with_null_and_resets_counters() -> None:
    faults = Faults({"server_errors": {"count": 1}})
    _kinds(faults, 1)
    assert _kinds(faults, 1) == [""]
    faults.update({"server_errors": {"count": 1}, "slow": {"delay_ms": 1}})
    assert _kinds(faults, 1) == ["slow,server_errors"]
    faults.update({"slow": None})
    assert "slow" not in faults.config


@pytest.mark.parametrize(
    "config",
    [
        {"nope": {}},
        {"slow": {"delay_ms": -1}},
        {"rate_limit": {"probability": 1.5}},
        {"server_errors": {"status": 404}},
        {"server_errors": {"rate": 0.1}},
        {"malformed_records": {"probability": 0.1}},
        {"seed": "x"},
        {"slow": "fast"},
        {"drop_connection": {"paths": "/v1"}},
    ],
)
def test_bad_configs_are_refused(config: dict) -> None:
    with pytest.raises(FaultConfigError):
        Faults(config)


def _events(n: int) -> list[str]:
    return [
        json.dumps({"id": f"evt_{i:03d}", "object": "event", "created": 1000 - i}) for i in range(n)
    ]


def test_duplicates_and_swaps_depend_only_on_seed_and_id() -> None:
    config = {"seed": 1, "duplicate_events": {"rate": 0.3}, "out_of_order_events": {"rate": 0.3}}
    first = apply_page_faults(Faults(config), "event", _events(30))
    again = apply_page_faults(Faults(config), "event", _events(30))
    assert first == again
    ids = [json.loads(b)["id"] for b in first]
    assert len(ids) > 30 and set(ids) == {f"evt_{i:03d}" for i in range(30)}
    created = [json.loads(b)["created"] for b in first]
    assert created != sorted(created, reverse=True)
    assert ids[-1] == "evt_029"  # the cursor object stays last


def test_event_faults_leave_other_objects_alone() -> None:
    bodies = _events(10)
    out = apply_page_faults(
        Faults({"duplicate_events": {"rate": 1.0}}),
        "charge",
        [b.replace("event", "charge") for b in bodies],
    )
    assert len(out) == 10


def test_malformed_records_drop_the_named_fields_of_hashed_objects() -> None:
    faults = Faults({"seed": 3, "malformed_records": {"rate": 0.5, "fields": ["created"]}})
    out = [json.loads(b) for b in apply_page_faults(faults, "event", _events(40))]
    broken = [o["id"] for o in out if "created" not in o]
    expected = [
        f"evt_{i:03d}" for i in range(40) if unit_hash(3, "malformed_records", f"evt_{i:03d}") < 0.5
    ]
    assert broken == expected and 0 < len(broken) < 40
    assert faults.fired["malformed_records"] == len(broken)
