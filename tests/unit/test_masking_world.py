"""Masking over the generated S world: no PII or tax value the world generated (truth.sqlite
`pii`) survives masking, neither in its own record nor in the records that embed it (invoices,
charges and events of the customer; the ERP customer), in any channel that allows no PII."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from q2c.masking import MaskContext, MaskingFilter, MaskingPolicy, mask_record
from q2c.policy import CHANNELS, load_contract

pytestmark = pytest.mark.unit

POLICY = MaskingPolicy.from_contract(load_contract(), salt=b"world-test")
STRICT = [
    ch for ch in CHANNELS if all(c.treatments[ch] != "allow" for c in POLICY.classes.values())
]


def _strings(value: Any) -> Iterator[str]:
    """Every string leaf (and dict key) of a masked record; numbers are not PII carriers here."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def _leaks(masked: Any, values: set[str]) -> set[str]:
    leaves = list(_strings(masked))
    return {v for v in values if any(v in leaf for leaf in leaves)}


@pytest.fixture(scope="module")
def pii(world_s: Path) -> dict[tuple[str, str, str], set[str]]:
    with sqlite3.connect(world_s / "truth.sqlite") as conn:
        rows = conn.execute("select system, object, id, value from pii where value <> ''")
        out: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        for system, obj, oid, value in rows:
            out[(system, obj, oid)].add(value)
    assert len(out) > 500  # the S world: ~200 accounts, ~400 contacts, ~170 customers
    return out


def _record(world: Path, system: str, obj: str, oid: str) -> dict[str, Any]:
    if system == "billing":
        with sqlite3.connect(world / "billing.sqlite") as conn:
            (body,) = conn.execute("select body from objects where id = ?", (oid,)).fetchone()
    else:
        with sqlite3.connect(world / "salesforce.sqlite") as conn:
            (body,) = conn.execute("select body from records where id = ?", (oid,)).fetchone()
    return json.loads(body)


@pytest.mark.parametrize("channel", STRICT)
def test_no_world_pii_survives_in_its_own_record(world_s: Path, pii: dict, channel: str) -> None:
    leaks = {}
    for (system, obj, oid), values in pii.items():
        masked = mask_record(
            _record(world_s, system, obj, oid), MaskContext(channel, system, obj), POLICY
        )
        if found := _leaks(masked, values):
            leaks[(obj, oid)] = found
    assert not leaks, f"{len(leaks)} records leak, e.g. {list(leaks.items())[:3]}"


def test_no_customer_pii_survives_in_objects_that_embed_the_customer(
    world_s: Path, pii: dict
) -> None:
    customers = {oid: v for (s, o, oid), v in pii.items() if (s, o) == ("billing", "customer")}
    checked = 0
    leaks = []
    with sqlite3.connect(world_s / "billing.sqlite") as conn:
        rows = conn.execute(
            "select customer, object, id, body from objects where customer is not null "
            "and object <> 'customer'"
        )
        for customer, obj, oid, body in rows:
            values = customers.get(customer)
            if not values:
                continue
            masked = mask_record(json.loads(body), MaskContext("logs", "billing", obj), POLICY)
            checked += 1
            if found := _leaks(masked, values):
                leaks.append((obj, oid, found))
    assert checked > 1000
    assert not leaks, f"{len(leaks)} leak, e.g. {leaks[:3]}"


def test_no_customer_pii_survives_in_the_erp_customer(world_s: Path, pii: dict) -> None:
    customers = {oid: v for (s, o, oid), v in pii.items() if (s, o) == ("billing", "customer")}
    with sqlite3.connect(world_s / "erp.sqlite") as conn:
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute("select * from customer")]
    assert rows
    for row in rows:
        masked = mask_record(
            {k: None if v is None else str(v) for k, v in row.items()},
            MaskContext("dlq", "erp", "customer"),
            POLICY,
        )
        assert not _leaks(masked, customers.get(row["externalid"], set()))
        assert row["email"] is None or row["email"] not in json.dumps(masked)


@pytest.fixture(scope="module")
def pii_rows(world_s: Path, pii: dict) -> list[tuple[str, str, str, dict[str, Any], set[str]]]:
    """(system, object, id, record, values) for every world record holding PII."""
    return [
        (system, obj, oid, _record(world_s, system, obj, oid), values)
        for (system, obj, oid), values in sorted(pii.items())
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_world_pii_never_survives_any_wrapper(pii_rows: list, data: st.DataObject) -> None:
    """Any world PII value, any strict channel, carried as a record, inside a dead-letter row
    whose error text repeats it, or in a log line that formats it next to its record."""
    system, obj, oid, record, values = data.draw(st.sampled_from(pii_rows), label="record")
    value = data.draw(st.sampled_from(sorted(values)), label="value")
    channel = data.draw(st.sampled_from([c for c in STRICT if c != "logs"]), label="channel")
    dlq_row = {
        "id": 1,
        "target": obj,
        "payload": record,
        "error": f"UNABLE_TO_LOCK_ROW for {value}; retry 3 of 5",
        "receive_count": 3,
    }
    masked = mask_record(dlq_row, MaskContext(channel, system, obj), POLICY)
    assert not _leaks(masked, {value})
    # the same record through the logging filter: message and arguments
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(MaskingFilter(POLICY))
    log = logging.getLogger(f"q2c.test.world.{channel}")
    log.handlers, log.propagate = [handler], False
    log.warning("write failed for %s: %s", value, record)
    assert value not in stream.getvalue()


def test_every_world_pii_field_is_named_by_the_contract_not_just_caught_by_patterns(
    world_s: Path, pii: dict
) -> None:
    """With the pattern scrubber off, the contract's fields and keys alone remove every value."""
    no_patterns = dataclasses.replace(
        POLICY,
        classes={k: dataclasses.replace(c, scrub=frozenset()) for k, c in POLICY.classes.items()},
        _scrub_cache={},
        _pattern_cache={},
    )
    assert no_patterns.scrub_kinds("logs") == frozenset()
    unnamed = set()
    with sqlite3.connect(world_s / "truth.sqlite") as conn:
        fields = conn.execute("select distinct system, object, field from pii").fetchall()
    by_field = defaultdict(list)
    for (system, obj, oid), _values in pii.items():
        by_field[(system, obj)].append(oid)
    for system, obj, field in fields:
        for oid in by_field[(system, obj)][:20]:
            record = _record(world_s, system, obj, oid)
            masked = mask_record(record, MaskContext("logs", system, obj), no_patterns)
            if _leaks(masked, pii[(system, obj, oid)]):
                unnamed.add((system, obj, field))
    assert not unnamed
