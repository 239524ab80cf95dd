"""`bench.compare`: its options and the shape of its `--json` object (on made-up figures; the
benchmark itself is run by hand, its timings are never asserted)."""

from __future__ import annotations

import json

import pytest

from bench.compare import Measurement, document, parse_args, row_differences

pytestmark = pytest.mark.unit


def test_options() -> None:
    args = parse_args(["--scale", "M", "--json"])
    assert (args.scale, args.json, args.world) == ("M", True, None)
    assert parse_args([]).scale == "S"
    with pytest.raises(SystemExit):
        parse_args(["--scale", "XL"])


def test_json_object_without_dlt() -> None:
    floor = Measurement("floor", 2.0, 1000, 12, 80.0, mb=4.0)
    q2c = Measurement("q2c", 5.0, 990, 20, 300.0)
    doc = json.loads(json.dumps(document(floor, q2c, None, {"scale": "S"})))
    assert doc["floor_seconds"] == 2.0 and doc["q2c_seconds"] == 5.0
    assert doc["dlt_seconds"] is None and doc["dlt"] == "not installed"
    assert (doc["floor_rows"], doc["q2c_rows"]) == (1000, 990)
    assert doc["q2c_over_floor"] == 2.5
    assert [c["name"] for c in doc["contenders"]] == ["floor", "q2c"]
    assert doc["contenders"][0]["rows_per_s"] == 500


def test_json_object_with_dlt() -> None:
    floor = Measurement("floor", 1.0, 10, 1, 1.0)
    q2c = Measurement("q2c", 2.0, 10, 2, 1.0, billing_seconds=2.0)
    dlt = Measurement("dlt", 8.0, 10, 2, 1.0)
    doc = document(floor, q2c, dlt, {})
    assert doc["dlt_seconds"] == 8.0 and doc["dlt_over_q2c"] == 4.0 and doc["dlt_rows"] == 10


def test_json_object_compares_dlt_with_the_billing_part_and_its_rows() -> None:
    floor = Measurement("floor", 1.0, 10, 1, 1.0)
    q2c = Measurement("q2c", 3.0, 12, 2, 1.0, billing_seconds=2.0, billing_rows=11)
    q2c.per_object = {"invoice": 5, "charge": 6}
    fair = Measurement("dlt (nesting 0)", 10.0, 11, 2, 1.0, per_object={"invoice": 5, "charge": 6})
    default = Measurement("dlt", 16.0, 10, 2, 1.0, per_object={"invoice": 5, "charge": 5})
    doc = document(floor, q2c, fair, {}, default)
    assert doc["dlt_over_q2c"] == 5.0 and doc["dlt_default_over_q2c"] == 8.0
    assert doc["dlt_rows_equal_q2c"] is True and doc["dlt_row_differences"] == {}
    assert row_differences(q2c, default) == {"charge": [6, 5]}
    assert [c["name"] for c in doc["contenders"]] == ["floor", "q2c", "dlt (nesting 0)", "dlt"]
