"""Bad input, one test per case, each served by the stand-ins over a private copy of the XS
world: the bad record meets a clear quarantine reason (or lands byte-exact where it is valid
data), and the rest of the batch lands equal to the world.

Values from data reach SOQL and SuiteQL only as escaped literals: `O'Brien` finds the one
record named so and `' OR Name != '` finds nothing (concatenated, it would match every row).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from extractors.erp.tables import suiteql_string
from extractors.salesforce.soql import soql_string
from q2c.warehouse import Warehouse
from sandbox.services import RunningSandbox, start_services
from tests.integration.test_extract_billing import landed_live, run_billing, world_listing
from tests.integration.test_extract_erp import client as erp_client
from tests.integration.test_extract_salesforce import make_client
from tests.support.reliability import Recorder

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

TEN_MB = "x" * (10 * 1024 * 1024)
INJECTIONS = ("O'Brien", "' OR Name != '")


@pytest.fixture(scope="module")
def served(
    world_xs: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningSandbox, Path]]:
    """All three stand-ins over a private copy of the XS world (the tests edit its records)."""
    root = tmp_path_factory.mktemp("bad_inputs")
    world = root / "world"
    shutil.copytree(world_xs, world)
    with start_services(world, None, root / "state") as sandbox:
        yield sandbox, world


@contextmanager
def served_as(world: Path, object_id: str, change: Callable[[dict], Any]) -> Iterator[None]:
    """The billing stand-in serves `object_id` changed by `change` until the block ends."""
    con = sqlite3.connect(world / "billing.sqlite")
    (body,) = con.execute("select body from objects where id = ?", (object_id,)).fetchone()
    con.execute(
        "update objects set body = ? where id = ?",
        (json.dumps(change(json.loads(body))), object_id),
    )
    con.commit()
    try:
        yield
    finally:
        con.execute("update objects set body = ? where id = ?", (body, object_id))
        con.commit()
        con.close()


def first_id(world: Path, obj: str) -> str:
    con = sqlite3.connect(world / "billing.sqlite")
    try:
        (oid,) = con.execute(
            "select id from objects where object = ? and deleted = 0 order by id limit 1", (obj,)
        ).fetchone()
        return oid
    finally:
        con.close()


def without(*fields: str) -> Callable[[dict], dict]:
    return lambda body: {k: v for k, v in body.items() if k not in fields}


def with_(**fields: Any) -> Callable[[dict], dict]:
    return lambda body: {**body, **fields}


#: name -> (object, change, the quarantine reason expected, or None: it lands byte-exact)
CASES: dict[str, tuple[str, Callable[[dict], Any], str | None]] = {
    "missing_required_field": ("charge", without("amount"), "missing required field(s) amount"),
    "wrong_type_amount_as_text": ("charge", with_(amount="12.50"), "`amount` is not an integer"),
    "wrong_type_amount_as_float": ("charge", with_(amount=12.5), "`amount` is not an integer"),
    "not_a_currency_code": ("charge", with_(currency="US$"), "`currency` is not a 3-letter code"),
    "not_a_json_object": ("customer", lambda body: [body], "expected a JSON object"),
    "schema_drift_field_retyped": ("customer", with_(created="2026-10-01"), "non-integer"),
    "schema_drift_field_removed_required": ("invoice", without("total"), "missing required"),
    "schema_drift_field_added": ("customer", with_(loyalty_tier={"level": 3}), None),
    "schema_drift_optional_field_removed": ("customer", without("email", "phone"), None),
    # an amount past 64 bits reaches the client as a float: quarantined, never rounded into a row
    "absurd_amount_beyond_64_bits": ("charge", with_(amount=2**70 + 1), "is not an integer"),
    # valid at the API's contract, so kept exact; the dbt input checks (accepted currencies)
    # make findings of them downstream
    "negative_amount": ("charge", with_(amount=-4200), None),
    "unknown_currency_code": ("charge", with_(currency="xyz"), None),
    "unicode_and_emoji_name": ("customer", with_(name="Zoë Ñandú 東京 🚀🧾 O'Brien"), None),
    "ten_megabyte_text_field": ("customer", with_(description=TEN_MB), None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_billing_record(
    case: str, served: tuple[RunningSandbox, Path], reliability: Recorder, tmp_path: Path
) -> None:
    sandbox, world = served
    obj, change, reason = CASES[case]
    bad_id = first_id(world, obj)
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    with served_as(world, bad_id, change):
        listing = world_listing(world)[obj]
        results = run_billing(sandbox.env, url, "bad", objects=(obj,))
    with Warehouse.from_url(url) as wh:
        quarantined = wh.fetchall("select reason, raw from ops.quarantine where object = ?", [obj])
        landed = landed_live(wh, obj)
    assert results[0].complete  # the run went on past the bad record
    if reason is None:
        assert quarantined == []
        assert landed[bad_id] == listing[bad_id]  # byte for byte what the API served
        reliability.bad_input(case, "landed exactly as served")
    else:
        assert [r for r, _ in quarantined] == [r for r, _ in quarantined if reason in r]
        assert len(quarantined) == 1 and bad_id in quarantined[0][1], quarantined
        assert bad_id not in landed
        reliability.bad_input(case, quarantined[0][0])
        del listing[bad_id]
    assert reliability.rows(listing, landed) == 0  # the rest of the batch landed


def test_an_unknown_event_type_lands_as_an_event_and_changes_nothing_else(
    served: tuple[RunningSandbox, Path], reliability: Recorder, tmp_path: Path
) -> None:
    sandbox, world = served
    event_id = min(world_listing(world)["event"])  # one inside the listable 30 days
    strange = with_(
        type="q2c.unheard_of.happened", data={"object": {"object": "widget", "id": "w_1"}}
    )
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    with served_as(world, event_id, strange):
        listing = world_listing(world)
        run_billing(sandbox.env, url, "first", objects=("event", "customer"))
        again = run_billing(sandbox.env, url, "again", objects=("event", "customer"))
    with Warehouse.from_url(url) as wh:
        events, customers = landed_live(wh, "event"), landed_live(wh, "customer")
        (quarantined,) = wh.fetchone("select count(*) from ops.quarantine")
    assert events[event_id]["type"] == "q2c.unheard_of.happened" and quarantined == 0
    assert sum(r.landed for r in again) == 0
    reliability.bad_input("unknown_event_type", "kept as an event, nothing re-read for it")
    assert reliability.rows(listing["event"], events) == 0
    assert reliability.rows(listing["customer"], customers) == 0


@pytest.mark.parametrize("value", INJECTIONS)
def test_an_injection_string_in_a_soql_value_matches_only_itself(
    value: str, served: tuple[RunningSandbox, Path], reliability: Recorder
) -> None:
    sandbox, world = served
    con = sqlite3.connect(world / "salesforce.sqlite")
    rid, body = con.execute(
        "select id, body from records where sobject = 'Account' order by id limit 1"
    ).fetchone()
    con.execute(
        "update records set body = ? where id = ?",
        (json.dumps({**json.loads(body), "Name": value}), rid),
    )
    con.commit()
    client = make_client(sandbox)
    try:
        soql = f"SELECT Id, Name FROM Account WHERE Name = {soql_string(value)}"
        found = [r for page in client.query_pages(soql) for r in page["records"]]
    finally:
        client.close()
        con.execute("update records set body = ? where id = ?", (body, rid))
        con.commit()
        con.close()
    assert [(r["Id"], r["Name"]) for r in found] == [(rid, value)]
    reliability.bad_input(f"soql_injection {value!r}", "escaped literal, one match")


@pytest.mark.parametrize("value", INJECTIONS)
def test_an_injection_string_in_a_suiteql_value_matches_only_itself(
    value: str, served: tuple[RunningSandbox, Path], reliability: Recorder
) -> None:
    sandbox, world = served
    con = sqlite3.connect(world / "erp.sqlite")
    (cid, name) = con.execute("select id, companyname from customer order by id limit 1").fetchone()
    con.execute("update customer set companyname = ? where id = ?", (value, cid))
    con.commit()
    client = erp_client(sandbox)
    try:
        query = f"SELECT id, companyname FROM customer WHERE companyname = {suiteql_string(value)}"
        found = [row for page in client.query_pages(query) for row in page]
    finally:
        client.close()
        con.execute("update customer set companyname = ? where id = ?", (name, cid))
        con.commit()
        con.close()
    assert [(str(r["id"]), r["companyname"]) for r in found] == [(str(cid), value)]
    reliability.bad_input(f"suiteql_injection {value!r}", "escaped literal, one match")
