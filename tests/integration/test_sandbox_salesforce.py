"""The Salesforce stand-in served over TLS, driven by simple-salesforce (unmodified) and plain
requests: OAuth, REST query paging, SOQL, describe, sObject writes, collections, replication,
Bulk API 2.0 query and ingest with real partial failures, the write journal, usage headers."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)

from sandbox.salesforce import bulk, bulk_results
from sandbox.salesforce.app import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_PASSWORD,
    create_app,
)
from sandbox.salesforce.serve import Served, serve_tls
from sandbox.salesforce.synthetic import write_world
from sandbox.world.salesforce_schema import INTEGRATION_USER_USERNAME, SOBJECTS

pytestmark = pytest.mark.integration

# Salesforce's response shapes (restforce's fixtures, MIT) from the team's reference material
REFERENCE = Path(os.environ.get("Q2C_REFERENCE_DIR", "/work/shared/reference"))
FIXTURES = REFERENCE / "salesforce" / "restforce-fixtures"
N_ACCOUNTS = 2500  # more than one 2,000-row REST page


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sf-world")
    write_world(path, N_ACCOUNTS)
    return path


@pytest.fixture(scope="module")
def served(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_tls(create_app(world), tmp_path_factory.mktemp("sf-certs")) as srv:
        yield srv


@pytest.fixture(scope="module")
def http(served: Served) -> requests.Session:
    s = requests.Session()
    s.verify = served.ca_file
    s.trust_env = False  # REQUESTS_CA_BUNDLE would override verify otherwise
    return s


def login(http: requests.Session, served: Served, username: str | None = None) -> dict[str, Any]:
    data = {"client_id": SANDBOX_CLIENT_ID, "client_secret": SANDBOX_CLIENT_SECRET}
    if username:
        data |= {"grant_type": "password", "username": username, "password": SANDBOX_PASSWORD}
    else:
        data["grant_type"] = "client_credentials"
    resp = http.post(served.base_url + "/services/oauth2/token", data=data)
    assert resp.status_code == 200, resp.text
    return resp.json()


@pytest.fixture(scope="module")
def sf(http: requests.Session, served: Served) -> Salesforce:
    token = login(http, served)
    return Salesforce(
        instance_url=token["instance_url"],
        session_id=token["access_token"],
        session=http,
        version="62.0",
    )


def db_rows(world: Path, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(world / "salesforce.sqlite") as conn:
        return conn.execute(sql, params).fetchall()


def integration_user_id(world: Path) -> str:
    return db_rows(
        world,
        "SELECT id FROM records WHERE sobject = 'User' AND body ->> '$.Username' = ?",
        INTEGRATION_USER_USERNAME,
    )[0][0]


# -- OAuth -----------------------------------------------------------------------------------
def test_token_endpoint_answers_both_flows_in_salesforces_shape(
    http: requests.Session, served: Served, world: Path
) -> None:
    fixture = json.loads((FIXTURES / "auth_success_response.json").read_text())
    cc = login(http, served)
    pw = login(http, served, "rep1@q2c.example")
    for token in (cc, pw):
        assert set(fixture) <= set(token)
        assert token["instance_url"] == served.base_url
        assert token["token_type"] == "Bearer"
    assert cc["id"].endswith("/" + integration_user_id(world))
    assert not pw["id"].endswith("/" + integration_user_id(world))
    bad = http.post(
        served.base_url + "/services/oauth2/token",
        data={"grant_type": "password", "client_id": SANDBOX_CLIENT_ID,
              "client_secret": SANDBOX_CLIENT_SECRET, "username": "rep1@q2c.example",
              "password": "wrong"},
    )  # fmt: skip
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
    bad = http.post(
        served.base_url + "/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client_id"


def test_requests_without_a_valid_token_get_invalid_session_id(
    http: requests.Session, served: Served
) -> None:
    resp = http.get(served.base_url + "/services/data/v62.0/limits", headers={
        "Authorization": "Bearer nope"})  # fmt: skip
    assert resp.status_code == 401
    assert resp.json() == json.loads((FIXTURES / "expired_session_response.json").read_text())


def test_versions_limits_and_usage_header(
    sf: Salesforce, http: requests.Session, served: Served
) -> None:
    versions = http.get(served.base_url + "/services/data/").json()
    assert {"version": "62.0", "url": "/services/data/v62.0", "label": "Winter '25"} in versions
    before = sf.limits()["DailyApiRequests"]
    sf.query("SELECT Id FROM User")
    used = sf.api_usage["api-usage"]
    assert used.total == before["Max"] == 100_000
    assert used.used == before["Max"] - before["Remaining"] + 1
    unknown = http.get(served.base_url + "/services/data/v12.0/limits",
                       headers={"Authorization": "Bearer " + sf.session_id})  # fmt: skip
    assert unknown.status_code == 404


# -- REST query ------------------------------------------------------------------------------
def test_query_pages_at_2000_rows_and_query_all_counts_the_world(
    sf: Salesforce, world: Path
) -> None:
    live = db_rows(world, "SELECT count(*) FROM records WHERE sobject='Account' AND is_deleted=0")
    every = db_rows(world, "SELECT count(*) FROM records WHERE sobject='Account'")
    first = sf.query("SELECT Id, Name FROM Account")
    assert first["totalSize"] == live[0][0] > 2000
    assert len(first["records"]) == 2000 and first["done"] is False
    assert first["nextRecordsUrl"].startswith("/services/data/v62.0/query/01g")
    ids = [r["Id"] for r in sf.query_all_iter("SELECT Id FROM Account")]
    assert len(ids) == len(set(ids)) == live[0][0]
    deleted_too = sf.query_all("SELECT Id, IsDeleted FROM Account", include_deleted=True)
    assert deleted_too["totalSize"] == every[0][0]
    assert sum(r["IsDeleted"] for r in deleted_too["records"]) == every[0][0] - live[0][0]


def test_batch_size_header_is_a_hint_within_200_and_2000(sf: Salesforce) -> None:
    page = sf.query("SELECT Id FROM Account", headers={"Sforce-Query-Options": "batchSize=500"})
    assert len(page["records"]) == 500
    n = sum(1 for _ in sf.query_all_iter(
        "SELECT Id FROM Contact", headers={"Sforce-Query-Options": "batchSize=700"}))  # fmt: skip
    assert n == N_ACCOUNTS
    tiny = sf.query("SELECT Id FROM Account", headers={"Sforce-Query-Options": "batchSize=5"})
    assert len(tiny["records"]) == 200


def test_records_nest_parent_fields_like_salesforce(sf: Salesforce, world: Path) -> None:
    fixture = json.loads((FIXTURES / "sobject/query_success_response.json").read_text())
    got = sf.query(
        "SELECT Id, LastName, Account.Name, Account.Owner.Name, LastModifiedBy.Name "
        "FROM Contact WHERE Account.Billing_Customer_Id__c = 'cus_00000000000007'"
    )
    assert set(fixture) == set(got)
    rec = got["records"][0]
    assert list(rec) == ["attributes", "Id", "LastName", "Account", "LastModifiedBy"]
    assert rec["attributes"] == {
        "type": "Contact",
        "url": f"/services/data/v62.0/sobjects/Contact/{rec['Id']}",
    }
    assert rec["Account"]["Name"] == "Company 000007"
    assert rec["Account"]["attributes"]["type"] == "Account"
    assert rec["Account"]["Owner"]["Name"].startswith("Rep ")
    assert rec["LastModifiedBy"]["attributes"]["type"] == "User"


def test_count_limit_offset_and_errors_in_salesforces_envelope(sf: Salesforce) -> None:
    count = sf.query("SELECT COUNT() FROM Account WHERE Billing_Status__c = 'active'")
    manual = sf.query_all("SELECT Id FROM Account WHERE Billing_Status__c = 'active'")
    assert count["totalSize"] == manual["totalSize"] > 0 and count["records"] == []
    agg = sf.query("SELECT COUNT(Industry) n FROM Account")
    assert agg["records"][0]["attributes"] == {"type": "AggregateResult"}
    page = sf.query("SELECT Id FROM Account ORDER BY Name LIMIT 5 OFFSET 10")
    assert [r["Id"] for r in page["records"]] == [
        r["Id"] for r in sf.query("SELECT Id FROM Account ORDER BY Name LIMIT 15")["records"]
    ][10:]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id, Nope__c FROM Account")
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id FROM Account WHERE")
    assert err.value.content[0]["errorCode"] == "MALFORMED_QUERY"


# -- describe --------------------------------------------------------------------------------
def test_describe_every_object_in_the_fixtures_shape(sf: Salesforce) -> None:
    fixture = json.loads((FIXTURES / "sobject/sobject_describe_success_response.json").read_text())
    field_keys = set(fixture["fields"][0])
    globl = sf.describe()
    assert {o["name"] for o in globl["sobjects"]} == set(SOBJECTS)
    g_fixture = json.loads(
        (FIXTURES / "sobject/describe_sobjects_success_response.json").read_text()
    )
    assert set(g_fixture["sobjects"][0]) <= set(globl["sobjects"][0])
    for name, fields in SOBJECTS.items():
        d = getattr(sf, name).describe()
        assert [f["name"] for f in d["fields"]] == [f.name for f in fields]
        for f in d["fields"]:
            assert field_keys <= set(f), (name, field_keys - set(f))
    account = {f["name"]: f for f in sf.Account.describe()["fields"]}
    ext = account["Billing_Customer_Id__c"]
    assert (ext["externalId"], ext["unique"], ext["custom"], ext["type"]) == (
        True, True, True, "string")  # fmt: skip
    assert account["OwnerId"]["referenceTo"] == ["User"]
    assert account["OwnerId"]["relationshipName"] == "Owner"
    assert [p["value"] for p in account["Billing_Status__c"]["picklistValues"]][:2] == [
        "active", "trialing"]  # fmt: skip


# -- sObject writes --------------------------------------------------------------------------
def test_create_get_update_delete_stamp_and_journal_every_write(
    sf: Salesforce, http: requests.Session, served: Served, world: Path
) -> None:
    me = integration_user_id(world)
    seq0 = (http.get(served.base_url + "/__sandbox/journal").json() or [{"seq": 0}])[-1]["seq"]
    created = sf.Account.create({"Name": "Journal Co", "Billing_Customer_Id__c": "cus_journal"})
    assert created["success"] is True and created["id"].startswith("001")
    rid = created["id"]
    rec = sf.Account.get(rid)
    assert rec["LastModifiedById"] == me and rec["CreatedById"] == me and rec["OwnerId"] == me
    assert sf.Account.update(rid, {"MRR__c": 120.125, "Billing_Status__c": "active"}) == 204
    rec2 = sf.Account.get(rid)
    assert rec2["MRR__c"] == 120.13  # currency keeps its scale of 2, rounded half up
    assert rec2["SystemModstamp"] > rec["SystemModstamp"]
    assert sf.Account.delete(rid) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(rid)
    journal = http.get(served.base_url + "/__sandbox/journal", params={"since_seq": seq0}).json()
    mine = [j for j in journal if j["record_id"] == rid]
    assert [j["operation"] for j in mine] == ["insert", "update", "delete"]
    assert all(j["user_id"] == me and j["request_id"].startswith("req-") for j in mine)
    assert mine[1]["before"]["MRR__c"] is None and mine[1]["after"]["MRR__c"] == 120.13
    stamps = [j["at"] for j in mine]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3


def test_a_persons_edit_is_told_apart_from_the_integration_users(
    sf: Salesforce, http: requests.Session, served: Served, world: Path
) -> None:
    token = login(http, served, "rep2@q2c.example")
    rep = Salesforce(instance_url=token["instance_url"], session_id=token["access_token"],
                     session=http, version="62.0")  # fmt: skip
    rid = sf.query("SELECT Id FROM Account WHERE Name = 'Company 000011'")["records"][0]["Id"]
    rep.Account.update(rid, {"Phone": "+1 555 0000"})
    person = rep.Account.get(rid)["LastModifiedById"]
    sf.Account.update(rid, {"Billing_Status__c": "past_due"})
    assert person == token["id"].rsplit("/", 1)[1] != integration_user_id(world)
    assert sf.Account.get(rid)["LastModifiedById"] == integration_user_id(world)


def test_validation_errors_of_single_record_writes(sf: Salesforce) -> None:
    cases = [
        ({"Name": "x" * 256}, "STRING_TOO_LONG"),
        ({"Billing_Customer_Id__c": "cus_missing_name"}, "REQUIRED_FIELD_MISSING"),
        ({"Name": "A", "Bogus__c": 1}, "INVALID_FIELD"),
        ({"Name": "A", "IsDeleted": True}, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        ({"Name": "A", "MRR__c": "ten"}, "JSON_PARSER_ERROR"),
        ({"Name": "A", "Billing_Customer_Id__c": "cus_00000000000003"}, "DUPLICATE_VALUE"),
        ({"Name": "A", "OwnerId": "001000000000000AAA"}, "INVALID_CROSS_REFERENCE_KEY"),
    ]
    for values, code in cases:
        with pytest.raises(SalesforceMalformedRequest) as err:
            sf.Account.create(values)
        assert err.value.content[0]["errorCode"] == code, values


def test_upsert_on_external_id_creates_updates_and_reports_multiple_matches(
    sf: Salesforce, world: Path
) -> None:
    assert sf.Account.upsert("Billing_Customer_Id__c/cus_upsert_1", {"Name": "Up 1"}) == 201
    assert sf.Account.upsert("Billing_Customer_Id__c/cus_upsert_1", {"MRR__c": 5}) == 200
    old_api = Salesforce(instance_url=f"https://{sf.sf_instance}", session_id=sf.session_id,
                         session=sf.session, version="45.0")  # fmt: skip
    assert old_api.Account.upsert("Billing_Customer_Id__c/cus_upsert_1", {"Phone": "1"}) == 204
    got = sf.Account.get_by_custom_id("Billing_Customer_Id__c", "cus_upsert_1")
    assert (got["Name"], got["MRR__c"]) == ("Up 1", 5)
    for name in ("Twin A", "Twin B"):
        sf.Opportunity.create({"Name": name, "StageName": "Closed Won", "CloseDate": "2026-12-01",
                               "Billing_Subscription_Id__c": "sub_twin"})  # fmt: skip
    with pytest.raises(SalesforceMoreThanOneRecord) as err:
        sf.Opportunity.upsert("Billing_Subscription_Id__c/sub_twin", {"Amount": 10})
    assert len(err.value.content) == 2 and err.value.content[0].startswith(
        "/services/data/v62.0/sobjects/Opportunity/")  # fmt: skip
    won = sf.query("SELECT IsWon, IsClosed FROM Opportunity WHERE Name = 'Twin A'")["records"]
    assert (won[0]["IsWon"], won[0]["IsClosed"]) == (True, True)


# -- sObject Collections ---------------------------------------------------------------------
def test_collections_create_partially_or_roll_back_all_or_none(sf: Salesforce) -> None:
    records = [
        {"attributes": {"type": "Account"}, "Name": "Coll 1"},
        {"attributes": {"type": "Account"}, "Name": "y" * 300},
        {"attributes": {"type": "Contact"}, "LastName": "Coll"},
    ]
    partial = sf.restful("composite/sobjects", method="POST",
                         json={"allOrNone": False, "records": records})  # fmt: skip
    assert [r["success"] for r in partial] == [True, False, True]
    assert partial[1]["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    records[0]["Name"] = "Coll 2"
    rolled = sf.restful("composite/sobjects", method="POST",
                        json={"allOrNone": True, "records": records})  # fmt: skip
    assert [r["success"] for r in rolled] == [False, False, False]
    assert rolled[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert sf.query("SELECT COUNT() FROM Account WHERE Name = 'Coll 2'")["totalSize"] == 0
    too_many = [{"attributes": {"type": "Account"}, "Name": f"N{i}"} for i in range(201)]
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful("composite/sobjects", method="POST", json={"records": too_many})


def test_collections_update_and_upsert_on_external_id(sf: Salesforce) -> None:
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Account WHERE IsDeleted = false "
                                     "ORDER BY Name LIMIT 2")["records"]]  # fmt: skip
    upd = sf.restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Account"}, "Id": ids[0], "Payout_Hold_Reason__c": "KYC"},
        {"attributes": {"type": "Account"}, "Id": ids[1], "Name": None},
    ]})  # fmt: skip
    assert [r["success"] for r in upd] == [True, False]
    assert upd[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    ups = sf.restful("composite/sobjects/Account/Billing_Customer_Id__c", method="PATCH",
                     json={"allOrNone": False, "records": [
                         {"attributes": {"type": "Account"}, "Billing_Customer_Id__c":
                          "cus_00000000000004", "Billing_Status__c": "canceled"},
                         {"attributes": {"type": "Account"}, "Billing_Customer_Id__c":
                          "cus_coll_new", "Name": "New via collection"},
                     ]})  # fmt: skip
    assert [(r["success"], r["created"]) for r in ups] == [(True, False), (True, True)]


# -- replication -----------------------------------------------------------------------------
def test_get_updated_and_get_deleted_over_a_window(sf: Salesforce, world: Path) -> None:
    end = datetime(2026, 11, 2, tzinfo=UTC)
    start = datetime(2026, 10, 31, 12, tzinfo=UTC)
    updated = sf.Account.updated(start, end)
    expect = db_rows(world, "SELECT id FROM records WHERE sobject='Account' AND is_deleted=0 "
                     "AND system_modstamp >= '2026-10-31T12:00:00.000+0000'")  # fmt: skip
    assert set(updated["ids"]) == {r[0] for r in expect} and updated["ids"]
    rid = sf.Account.create({"Name": "To delete"})["id"]
    sf.Account.delete(rid)
    deleted = sf.Account.deleted(start, end)
    assert rid in [d["id"] for d in deleted["deletedRecords"]]
    assert set(json.loads((FIXTURES / "sobject/get_deleted_success_response.json").read_text())
               ) == set(deleted)  # fmt: skip
    with pytest.raises(SalesforceMalformedRequest):
        sf.Account.updated(end - timedelta(days=45), end)


# -- Bulk API 2.0 ----------------------------------------------------------------------------
def test_bulk_query_pages_with_locators_to_the_world_count(sf: Salesforce, world: Path) -> None:
    every = db_rows(world, "SELECT count(*) FROM records WHERE sobject='Contact'")[0][0]
    soql = "SELECT Id, LastName, Account.Name, SystemModstamp, IsDeleted FROM Contact"
    pages = list(sf.bulk2.Contact.query_all(soql, max_records=1000, wait=0))
    rows = [r for p in pages for r in csv.DictReader(io.StringIO(p))]
    assert len(pages) == -(-every // 1000) and len(rows) == every
    assert list(rows[0]) == ["Id", "LastName", "Account.Name", "SystemModstamp", "IsDeleted"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", rows[0]["SystemModstamp"])
    assert {r["IsDeleted"] for r in rows} == {"false"}
    assert len({r["Id"] for r in rows}) == every


def test_bulk_query_protocol_locator_version_and_refusals(
    sf: Salesforce, http: requests.Session, served: Served
) -> None:
    h = {"Authorization": "Bearer " + sf.session_id}
    jobs = served.base_url + "/services/data/v62.0/jobs/query"
    job = http.post(jobs, json={"operation": "query", "query": "SELECT Id FROM Case"},
                    headers=h).json()  # fmt: skip
    fixture = json.loads((FIXTURES / "bulk/create_job_success_response.json").read_text())
    assert set(fixture) - {"contentUrl"} <= set(job) and job["state"] == "UploadComplete"
    status = http.get(f"{jobs}/{job['id']}", headers=h).json()
    assert status["state"] == "JobComplete" and status["jobType"] == "V2Query"
    first = http.get(f"{jobs}/{job['id']}/results", params={"maxRecords": 300}, headers=h)
    loc = first.headers["Sforce-Locator"]
    assert first.headers["Sforce-NumberOfRecords"] == "300" and loc != "null"
    second = http.get(f"{jobs}/{job['id']}/results", params={"maxRecords": 300, "locator": loc},
                      headers=h)  # fmt: skip
    again = http.get(f"{jobs}/{job['id']}/results", params={"maxRecords": 300, "locator": loc},
                     headers=h)  # fmt: skip
    assert second.text == again.text  # a locator may be read again
    total = int(status["numberRecordsProcessed"])
    last = http.get(f"{jobs}/{job['id']}/results", headers=h,
                    params={"maxRecords": total, "locator": loc})  # fmt: skip
    assert last.headers["Sforce-Locator"] == "null"
    assert int(last.headers["Sforce-NumberOfRecords"]) == total - 300
    other = served.base_url + f"/services/data/v61.0/jobs/query/{job['id']}"
    assert http.get(other, headers=h).status_code == 409
    for soql in ("SELECT COUNT() FROM Account", "SELECT Id FROM Account LIMIT 5 OFFSET 2",
                 "SELECT Type FROM Account GROUP BY Type"):  # fmt: skip
        refused = http.post(jobs, json={"operation": "query", "query": soql}, headers=h)
        assert refused.status_code == 400, soql
        assert refused.json()[0]["errorCode"] in ("INVALIDJOB", "MALFORMED_QUERY")


def test_bulk_query_results_are_the_job_time_rows_at_any_page_size(
    sf: Salesforce,
    http: requests.Session,
    served: Served,
    world: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # tiny render chunks and pieces: pages start and end inside chunks and stream in pieces
    monkeypatch.setattr(bulk_results, "CHUNK", 7)
    monkeypatch.setattr(bulk_results, "PIECE_BYTES", 100)
    h = {"Authorization": "Bearer " + sf.session_id}
    jobs = served.base_url + "/services/data/v62.0/jobs/query"
    before = db_rows(world, "SELECT id, body ->> '$.Website', is_deleted FROM records "
                     "WHERE sobject = 'Account' ORDER BY rowid")  # fmt: skip
    last_live = next(r[0] for r in reversed(before) if not r[2])
    soql = "SELECT Id, Website, IsDeleted FROM Account"
    spec = {"operation": "queryAll", "query": soql, "columnDelimiter": "SEMICOLON",
            "lineEnding": "CRLF"}  # fmt: skip
    job = http.post(jobs, json=spec, headers=h).json()
    # written while the job's rows still render: not in its results (Salesforce: job time)
    sf.Account.update(last_live, {"Website": "https://changed.example"})
    assert http.get(f"{jobs}/{job['id']}", headers=h).json()["state"] == "JobComplete"
    rows: list[list[str]] = []
    locator = ""
    while locator != "null":
        params = {"maxRecords": 333, **({"locator": locator} if locator else {})}
        page = http.get(f"{jobs}/{job['id']}/results", params=params, headers=h)
        assert page.status_code == 200, page.text
        assert page.text.endswith("\r\n") and "\n" not in page.text.replace("\r\n", "")
        got = list(csv.reader(io.StringIO(page.text, newline=""), delimiter=";"))
        assert got[0] == ["Id", "Website", "IsDeleted"]
        assert len(got) - 1 == int(page.headers["Sforce-NumberOfRecords"]) <= 333
        rows += got[1:]
        locator = page.headers["Sforce-Locator"]
    assert rows == [[i, w or "", "true" if d else "false"] for i, w, d in before]
    fresh = http.post(jobs, json=spec, headers=h).json()
    assert http.get(f"{jobs}/{fresh['id']}", headers=h).json()["state"] == "JobComplete"
    page = http.get(f"{jobs}/{fresh['id']}/results", headers=h).text
    assert f'"{last_live}";"https://changed.example";"false"' in page.splitlines()
    for done in (job, fresh):
        assert http.delete(f"{jobs}/{done['id']}", headers=h).status_code == 204
    assert http.get(f"{jobs}/{job['id']}/results", headers=h).status_code == 404


def test_the_oldest_query_results_are_dropped_beyond_the_spool_budget(
    sf: Salesforce, http: requests.Session, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "MAX_RESULT_BYTES", 1)
    h = {"Authorization": "Bearer " + sf.session_id}
    jobs = served.base_url + "/services/data/v62.0/jobs/query"
    spec = {"operation": "query", "query": "SELECT Id FROM User"}
    first = http.post(jobs, json=spec, headers=h).json()
    http.get(f"{jobs}/{first['id']}", headers=h)
    assert http.get(f"{jobs}/{first['id']}/results", headers=h).status_code == 200
    second = http.post(jobs, json=spec, headers=h).json()  # over budget: the first is dropped
    assert http.get(f"{jobs}/{first['id']}/results", headers=h).status_code == 404
    assert http.get(f"{jobs}/{second['id']}", headers=h).json()["state"] == "JobComplete"
    assert http.get(f"{jobs}/{second['id']}/results", headers=h).text.count("\n") == 5


def test_bulk_upsert_reports_partial_failures_row_by_row(
    sf: Salesforce, http: requests.Session, served: Served, world: Path
) -> None:
    rows = [
        {"Billing_Customer_Id__c": "cus_00000000000005", "MRR__c": "42.5", "Name": ""},
        {"Billing_Customer_Id__c": "cus_bulk_new", "MRR__c": "", "Name": "Bulk New"},
        {"Billing_Customer_Id__c": "cus_bulk_badtype", "MRR__c": "forty", "Name": "B"},
        {"Billing_Customer_Id__c": "cus_bulk_long", "MRR__c": "", "Name": "L" * 256},
        {"Billing_Customer_Id__c": "cus_bulk_noname", "MRR__c": "1", "Name": ""},
        {"Billing_Customer_Id__c": "cus_bulk_dup", "MRR__c": "1", "Name": "D1"},
        {"Billing_Customer_Id__c": "cus_bulk_dup", "MRR__c": "2", "Name": "D2"},
    ]
    result = sf.bulk2.Account.upsert(records=rows, external_id_field="Billing_Customer_Id__c",
                                     wait=0)[0]  # fmt: skip
    assert (result["numberRecordsProcessed"], result["numberRecordsFailed"]) == (7, 5)
    ok = list(csv.DictReader(io.StringIO(sf.bulk2.Account.get_successful_records(
        result["job_id"]))))  # fmt: skip
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Account.get_failed_records(
        result["job_id"]))))  # fmt: skip
    assert {(r["Billing_Customer_Id__c"], r["sf__Created"]) for r in ok} == {
        ("cus_00000000000005", "false"), ("cus_bulk_new", "true")}  # fmt: skip
    errors = {r["Billing_Customer_Id__c"] + r["MRR__c"]: r["sf__Error"].split(":")[0]
              for r in failed}  # fmt: skip
    assert errors == {
        "cus_bulk_badtypeforty": "INVALID_TYPE_ON_FIELD_IN_RECORD",
        "cus_bulk_long": "STRING_TOO_LONG",
        "cus_bulk_noname1": "REQUIRED_FIELD_MISSING",
        "cus_bulk_dup1": "DUPLICATE_EXTERNAL_ID",
        "cus_bulk_dup2": "DUPLICATE_EXTERNAL_ID",
    }
    assert sf.bulk2.Account.get_unprocessed_records(result["job_id"]).strip() != ""  # header
    kept = sf.Account.get_by_custom_id("Billing_Customer_Id__c", "cus_00000000000005")
    assert kept["MRR__c"] == 42.5 and kept["Name"] == "Company 000005"  # empty = unchanged
    journal = http.get(served.base_url + "/__sandbox/journal").json()
    assert sum(1 for j in journal if j["request_id"] == result["job_id"]) == 2


def test_bulk_insert_update_delete_and_an_unknown_column_fails_the_job(
    sf: Salesforce, world: Path
) -> None:
    ins = sf.bulk2.Contact.insert(records=[{"LastName": "B1"}, {"LastName": "B2"}], wait=0)[0]
    ok = list(csv.DictReader(io.StringIO(sf.bulk2.Contact.get_successful_records(ins["job_id"]))))
    ids = [r["sf__Id"] for r in ok]
    assert len(ids) == 2 and all(r["sf__Created"] == "true" for r in ok)
    missing = "003000000000000AAA"
    upd = sf.bulk2.Contact.update(
        records=[{"Id": ids[0], "Title": "VP"}, {"Id": missing, "Title": "x"},
                 {"Id": "", "Title": "y"}], wait=0
    )[0]  # fmt: skip
    assert upd["numberRecordsFailed"] == 2
    errors = [r["sf__Error"].split(":")[0] for r in csv.DictReader(io.StringIO(
        sf.bulk2.Contact.get_failed_records(upd["job_id"])))]  # fmt: skip
    assert errors == ["INVALID_CROSS_REFERENCE_KEY", "MISSING_ARGUMENT"]
    assert sf.Contact.get(ids[0])["Title"] == "VP"
    dele = sf.bulk2.Contact.delete(records=[{"Id": ids[1]}], wait=0)[0]
    assert dele["numberRecordsFailed"] == 0
    assert db_rows(world, "SELECT is_deleted FROM records WHERE id = ?", ids[1]) == [(1,)]
    from simple_salesforce.exceptions import SalesforceOperationError

    with pytest.raises(SalesforceOperationError, match="Field name not found : Shoe"):
        sf.bulk2.Contact.insert(records=[{"LastName": "X", "Shoe": "9"}], wait=0)


def test_auto_numbers_and_derived_fields_on_bulk_insert(
    sf: Salesforce, http: requests.Session, served: Served
) -> None:
    res = sf.bulk2.Case.insert(
        records=[{"Subject": f"Bulk case {i}", "Status": "Closed" if i else "New"}
                 for i in range(3)], wait=0)[0]  # fmt: skip
    ok = list(csv.DictReader(io.StringIO(sf.bulk2.Case.get_successful_records(res["job_id"]))))
    cases = [sf.Case.get(r["sf__Id"]) for r in ok]
    numbers = [c["CaseNumber"] for c in cases]
    assert len(set(numbers)) == 3 and all(len(n) == 8 for n in numbers)
    assert sorted(c["IsClosed"] for c in cases) == [False, True, True]
    one = http.get(served.base_url + "/__sandbox/journal",
                   params={"record_id": ok[0]["sf__Id"]}).json()  # fmt: skip
    bad = http.get(served.base_url + "/__sandbox/journal", params={"since_seq": "x"})
    assert bad.status_code == 400
    assert [(j["operation"], j["request_id"]) for j in one] == [("insert", res["job_id"])]


def test_uri_and_headers_over_16k_are_refused(sf: Salesforce) -> None:
    ids = ", ".join(f"'001000000000{i:03d}AAA'" for i in range(900))
    with pytest.raises(SalesforceGeneralError) as err:
        sf.query(f"SELECT Id FROM Account WHERE Id IN ({ids})")
    assert err.value.status == 414
    assert err.value.content[0]["errorCode"] == "URI_TOO_LONG"


def test_bulk_job_states_abort_delete_and_listing(
    sf: Salesforce, http: requests.Session, served: Served
) -> None:
    h = {"Authorization": "Bearer " + sf.session_id}
    ingest = served.base_url + "/services/data/v62.0/jobs/ingest"
    spec = {"object": "Contact", "operation": "insert", "contentType": "CSV", "lineEnding": "LF"}
    job = http.post(ingest, json=spec, headers=h).json()
    assert job["state"] == "Open" and job["contentUrl"].endswith(f"{job['id']}/batches")
    put = http.put(f"{ingest}/{job['id']}/batches", data=b"LastName\nAborted1\nAborted2\n",
                   headers={**h, "Content-Type": "text/csv"})  # fmt: skip
    assert put.status_code == 201 and put.content == b""
    assert "sforce-limit-info" in {k.lower() for k in put.headers}
    again = http.put(f"{ingest}/{job['id']}/batches", data=b"LastName\nX\n",
                     headers={**h, "Content-Type": "text/csv"})  # fmt: skip
    assert again.status_code == 400
    aborted = http.patch(f"{ingest}/{job['id']}", json={"state": "Aborted"}, headers=h).json()
    assert aborted["state"] == "Aborted"
    status = http.get(f"{ingest}/{job['id']}", headers=h).json()
    assert (status["state"], status["jobType"], status["numberRecordsProcessed"]) == (
        "Aborted", "V2Ingest", 0)  # fmt: skip
    unprocessed = http.get(f"{ingest}/{job['id']}/unprocessedRecords", headers=h).text
    assert [r["LastName"] for r in csv.DictReader(io.StringIO(unprocessed))] == [
        "Aborted1", "Aborted2"]  # fmt: skip
    listed = http.get(ingest, headers=h).json()
    assert job["id"] in [j["id"] for j in listed["records"]] and listed["done"] is True
    assert http.delete(f"{ingest}/{job['id']}", headers=h).status_code == 204
    assert http.get(f"{ingest}/{job['id']}", headers=h).status_code == 404
    assert sf.query("SELECT COUNT() FROM Contact WHERE LastName = 'Aborted1'")["totalSize"] == 0


def test_a_users_eleventh_open_cursor_evicts_the_oldest(sf: Salesforce) -> None:
    firsts = [sf.query("SELECT Id FROM Account") for _ in range(11)]
    assert all(not f["done"] for f in firsts)
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query_more(firsts[0]["nextRecordsUrl"], identifier_is_url=True)
    assert err.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
    assert len(sf.query_more(firsts[-1]["nextRecordsUrl"], identifier_is_url=True)["records"]) > 0


def test_external_ids_match_without_regard_to_case(sf: Salesforce) -> None:
    assert sf.Account.upsert("Billing_Customer_Id__c/CUS_00000000000008", {"Phone": "8"}) == 200
    got = sf.Account.get_by_custom_id("Billing_Customer_Id__c", "cus_00000000000008")
    assert got["Phone"] == "8" and got["Billing_Customer_Id__c"] == "cus_00000000000008"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Account.create({"Name": "Case twin", "Billing_Customer_Id__c": "CUS_00000000000008"})
    assert err.value.content[0]["errorCode"] == "DUPLICATE_VALUE"


def test_if_unmodified_since_refuses_to_overwrite_a_later_edit(sf: Salesforce) -> None:
    from email.utils import format_datetime

    rid = sf.Account.create({"Name": "Conditional Co"})["id"]
    read_at = datetime.strptime(sf.Account.get(rid)["LastModifiedDate"],
                                "%Y-%m-%dT%H:%M:%S.%f%z")  # fmt: skip
    stale = {"If-Unmodified-Since": format_datetime(read_at - timedelta(seconds=1), usegmt=True)}
    fresh = {"If-Unmodified-Since": format_datetime(read_at + timedelta(seconds=1), usegmt=True)}
    with pytest.raises(SalesforceGeneralError) as err:
        sf.Account.update(rid, {"Phone": "1"}, headers=stale)
    assert err.value.status == 412
    assert err.value.content[0]["errorCode"] == "PRECONDITION_FAILED"
    assert sf.Account.update(rid, {"Phone": "2"}, headers=fresh) == 204
    assert sf.Account.get(rid)["Phone"] == "2"
