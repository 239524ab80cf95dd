"""The Salesforce stand-in over a generated S world: paging through every object with
simple-salesforce (REST query/queryAll and Bulk 2.0 queryAll) gives exactly `truth.counts`,
and every served value has the type its describe says."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from simple_salesforce import Salesforce

from sandbox.salesforce.app import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, create_app
from sandbox.salesforce.serve import Served, serve_tls
from sandbox.world import generate
from sandbox.world.salesforce_schema import SOBJECTS

pytestmark = pytest.mark.integration

DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sf-generated-s")
    generate(path, seed=7, scale="S")
    return path


@pytest.fixture(scope="module")
def truth(world: Path) -> dict[str, int]:
    with sqlite3.connect(world / "truth.sqlite") as conn:
        rows = conn.execute("SELECT object, n FROM counts WHERE system = 'salesforce'").fetchall()
    return dict(rows)


@pytest.fixture(scope="module")
def sf(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Salesforce]:
    with serve_tls(create_app(world), tmp_path_factory.mktemp("sf-gen-certs")) as srv:
        yield _client(srv)


def _client(srv: Served) -> Salesforce:
    s = requests.Session()
    s.verify, s.trust_env = srv.ca_file, False
    tok = s.post(
        srv.base_url + "/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": SANDBOX_CLIENT_ID,
              "client_secret": SANDBOX_CLIENT_SECRET},
    ).json()  # fmt: skip
    return Salesforce(instance_url=tok["instance_url"], session_id=tok["access_token"],
                      session=s, version="62.0")  # fmt: skip


@pytest.mark.parametrize("sobject", sorted(SOBJECTS))
def test_paging_through_every_object_gives_the_worlds_counts(
    sf: Salesforce, truth: dict[str, int], sobject: str
) -> None:
    small = {"Sforce-Query-Options": "batchSize=200"}  # several pages even at S
    live = [r["Id"] for r in sf.query_all_iter(f"SELECT Id FROM {sobject}", headers=small)]
    every = sf.query_all(f"SELECT Id FROM {sobject}", include_deleted=True, headers=small)
    assert len(live) == len(set(live)) == truth[f"{sobject}:live"]
    assert every["totalSize"] == truth[sobject]
    pages = getattr(sf.bulk2, sobject).query_all(
        f"SELECT Id, IsDeleted FROM {sobject}", max_records=100, wait=0
    )
    rows = [r for page in pages for r in csv.DictReader(io.StringIO(page))]
    assert len(rows) == truth[sobject]
    assert sum(r["IsDeleted"] == "false" for r in rows) == truth[f"{sobject}:live"]


@pytest.mark.parametrize("sobject", sorted(SOBJECTS))
def test_every_served_value_has_its_described_type(sf: Salesforce, sobject: str) -> None:
    fields = {f["name"]: f for f in getattr(sf, sobject).describe()["fields"]}
    soql = f"SELECT {', '.join(fields)} FROM {sobject}"
    records = sf.query_all(soql, include_deleted=True)["records"]
    assert records
    for rec in records:
        assert list(rec)[1:] == list(fields)
        for name, value in rec.items():
            if name == "attributes" or value is None:
                continue
            kind = fields[name]["type"]
            if kind == "datetime":
                assert DATETIME.match(value), (name, value)
            elif kind == "date":
                assert DATE.match(value), (name, value)
            elif kind == "boolean":
                assert isinstance(value, bool), (name, value)
            elif kind in ("currency", "double", "percent", "int"):
                assert isinstance(value, int | float) and not isinstance(value, bool)
            else:
                assert isinstance(value, str), (name, value)
                if fields[name]["length"]:
                    assert len(value) <= fields[name]["length"], (name, len(value))


def test_accounts_link_to_billing_customers_and_opportunities_to_accounts(sf: Salesforce) -> None:
    linked = sf.query("SELECT COUNT() FROM Account WHERE Billing_Customer_Id__c != null")
    assert linked["totalSize"] > 0
    won = sf.query_all(
        "SELECT Id, Account.Name, Billing_Subscription_Id__c FROM Opportunity "
        "WHERE StageName = 'Closed Won' AND Billing_Subscription_Id__c LIKE 'sub_%'"
    )["records"]
    assert won and all(r["Billing_Subscription_Id__c"].startswith("sub_") for r in won)
