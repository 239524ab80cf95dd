"""Each fault of the Salesforce stand-in, switched on at run time (or at start), and the proof
from the client's side that the stand-in produced it."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceOperationError,
    SalesforceRefusedRequest,
)

from sandbox.salesforce.app import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_PASSWORD,
    create_app,
)
from sandbox.salesforce.faults import FaultError, Faults
from sandbox.salesforce.serve import Served, serve_tls
from sandbox.salesforce.synthetic import write_world
from sandbox.world.salesforce_schema import INTEGRATION_USER_USERNAME

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sf-faults-world")
    write_world(path, 300)
    return path


@pytest.fixture(scope="module")
def served(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_tls(create_app(world), tmp_path_factory.mktemp("sf-faults-certs")) as srv:
        yield srv


@pytest.fixture(scope="module")
def http(served: Served) -> requests.Session:
    s = requests.Session()
    s.verify = served.ca_file
    s.trust_env = False
    return s


def token(http: requests.Session, served: Served) -> dict[str, Any]:
    resp = http.post(
        served.base_url + "/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": SANDBOX_CLIENT_ID,
              "client_secret": SANDBOX_CLIENT_SECRET},
    )  # fmt: skip
    return resp.json()


@pytest.fixture
def sf(http: requests.Session, served: Served) -> Iterator[Salesforce]:
    tok = token(http, served)
    yield Salesforce(instance_url=tok["instance_url"], session_id=tok["access_token"],
                     session=http, version="62.0")  # fmt: skip
    # every test leaves the stand-in faithful again
    current = http.get(served.base_url + "/__sandbox/faults").json()
    http.put(served.base_url + "/__sandbox/faults", json={k: None for k in current})


def set_faults(http: requests.Session, served: Served, faults: dict[str, Any]) -> dict[str, Any]:
    resp = http.put(served.base_url + "/__sandbox/faults", json=faults)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_fault_settings_are_validated_merged_and_read_back(
    http: requests.Session, served: Served, sf: Salesforce
) -> None:
    bad = http.put(served.base_url + "/__sandbox/faults", json={"meteor": {"count": 1}})
    assert bad.status_code == 400 and "unknown fault" in bad.json()["error"]
    set_faults(http, served, {"server_error": {"count": 2}})
    merged = set_faults(http, served, {"slow": {"rate": 0.0, "seconds": 1}})
    assert merged == {"server_error": {"count": 2}, "slow": {"rate": 0.0, "seconds": 1}}
    assert set_faults(http, served, {"server_error": None}) == {"slow": {"rate": 0.0, "seconds": 1}}
    with pytest.raises(FaultError):
        Faults({"slow": {"seconds": 1}})  # no trigger


def test_faults_given_at_create_app_apply_from_the_first_request(
    world: Path, tmp_path: Path
) -> None:
    app = create_app(world, {"server_error": {"count": 1, "status": 500}})
    with serve_tls(app, tmp_path) as srv:
        s = requests.Session()
        s.verify, s.trust_env = srv.ca_file, False
        tok = token(s, srv)
        h = {"Authorization": "Bearer " + tok["access_token"]}
        first = s.get(srv.base_url + "/services/data/v62.0/limits", headers=h)
        second = s.get(srv.base_url + "/services/data/v62.0/limits", headers=h)
    assert first.status_code == 500 and first.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert second.status_code == 200


def test_request_limit_answers_403_request_limit_exceeded(
    http: requests.Session, served: Served, sf: Salesforce
) -> None:
    set_faults(http, served, {"request_limit": {"count": 1}})
    with pytest.raises(SalesforceRefusedRequest) as err:
        sf.query("SELECT Id FROM Account LIMIT 1")
    assert err.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert "ConcurrentPerOrgLongTxn" in err.value.content[0]["message"]
    assert sf.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1


def test_the_daily_budget_runs_out_with_total_requests_exceeded(
    http: requests.Session, served: Served, sf: Salesforce
) -> None:
    set_faults(http, served, {"daily_api_limit": 50, "api_usage": 48})
    sf.query("SELECT Id FROM Account LIMIT 1")
    assert sf.api_usage["api-usage"].used == 49 and sf.api_usage["api-usage"].total == 50
    sf.query("SELECT Id FROM Account LIMIT 1")
    with pytest.raises(SalesforceRefusedRequest) as err:
        sf.query("SELECT Id FROM Account LIMIT 1")
    assert err.value.content == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    set_faults(http, served, {"api_usage": 0, "daily_api_limit": None})


def test_a_burst_of_server_errors_then_recovery(
    http: requests.Session, served: Served, sf: Salesforce
) -> None:
    set_faults(http, served, {"server_error": {"count": 3, "status": 503}})
    statuses = []
    for _ in range(4):
        try:
            sf.query("SELECT Id FROM Account LIMIT 1")
            statuses.append(200)
        except SalesforceGeneralError as exc:
            statuses.append(exc.status)
    assert statuses == [503, 503, 503, 200]


def test_slow_responses_make_a_client_time_out(
    http: requests.Session, served: Served, sf: Salesforce
) -> None:
    set_faults(http, served, {"slow": {"count": 1, "seconds": 1.0}})
    h = {"Authorization": "Bearer " + sf.session_id}
    url = served.base_url + "/services/data/v62.0/limits"
    t0 = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        http.get(url, headers=h, timeout=0.3)
    assert time.monotonic() - t0 < 1.0
    assert http.get(url, headers=h, timeout=5).status_code == 200


def test_dropped_connection_breaks_the_response_mid_body(
    http: requests.Session, served: Served, sf: Salesforce
) -> None:
    set_faults(http, served, {"drop_connection": {"count": 1, "path": "/query"}})
    broken = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)
    with pytest.raises(broken):
        sf.query("SELECT Id FROM Account LIMIT 1")
    assert sf.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1


def test_expired_sessions_fail_a_bare_token_and_simple_salesforce_logs_in_again(
    http: requests.Session, served: Served, sf: Salesforce
) -> None:
    set_faults(http, served, {"session_expired": {"count": 1}})
    with pytest.raises(SalesforceExpiredSession) as err:
        sf.query("SELECT Id FROM Account LIMIT 1")
    assert err.value.content[0]["errorCode"] == "INVALID_SESSION_ID"
    with pytest.raises(SalesforceExpiredSession):  # the token was revoked
        sf.query("SELECT Id FROM Account LIMIT 1")
    # simple-salesforce's own OAuth login: it builds https://{domain}.salesforce.com/...; a
    # query string swallows the suffix so it reaches the stand-in's token endpoint.
    domain = f"127.0.0.1:{served.port}/services/oauth2/token?realm="
    relogging = Salesforce(username=INTEGRATION_USER_USERNAME, password=SANDBOX_PASSWORD,
                           consumer_key=SANDBOX_CLIENT_ID, consumer_secret=SANDBOX_CLIENT_SECRET,
                           domain=domain, session=http, version="62.0")  # fmt: skip
    first_token = relogging.session_id
    set_faults(http, served, {"session_expired": {"count": 1}})
    assert relogging.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1
    assert relogging.session_id != first_token


def test_session_lifetime_expires_tokens(
    http: requests.Session, served: Served, sf: Salesforce
) -> None:
    set_faults(http, served, {"session_lifetime_seconds": 0.3})
    tok = token(http, served)
    h = {"Authorization": "Bearer " + tok["access_token"]}
    url = served.base_url + "/services/data/v62.0/limits"
    assert http.get(url, headers=h).status_code == 200
    time.sleep(0.4)
    expired = http.get(url, headers=h)
    assert expired.status_code == 401
    assert expired.json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_late_update_serves_a_change_older_than_what_was_already_served(
    http: requests.Session, served: Served, sf: Salesforce, world: Path
) -> None:
    set_faults(http, served, {"late_update": {"count": 1, "lag_seconds": 600}})
    served_rows = sf.query_all("SELECT Id, BillingCity, SystemModstamp FROM Account")["records"]
    high_water = max(r["SystemModstamp"] for r in served_rows)
    before = {r["Id"]: r for r in served_rows}
    # an incremental read with a strict cursor misses the late change ...
    newer = sf.query_all(f"SELECT Id FROM Account WHERE SystemModstamp > {high_water[:19]}Z")
    assert newer["totalSize"] == 0
    # ... which is there, stamped before the high-water mark, by a person
    again = sf.query_all("SELECT Id, BillingCity, SystemModstamp, LastModifiedById FROM Account")
    now = {r["Id"]: r for r in again["records"]}
    changed = [i for i in now if now[i]["BillingCity"] != before[i]["BillingCity"]]
    assert len(changed) == 1
    late = now[changed[0]]
    assert late["SystemModstamp"] < high_water
    assert late["SystemModstamp"] > before[changed[0]]["SystemModstamp"]
    who = f"SELECT Id FROM User WHERE Username = '{INTEGRATION_USER_USERNAME}'"
    integration = sf.query(who)["records"][0]["Id"]
    assert late["LastModifiedById"] != integration
    journal = http.get(served.base_url + "/__sandbox/journal").json()
    assert any(j["record_id"] == changed[0] and j["request_id"] == "fault:late_update"
               for j in journal)  # fmt: skip


def test_malformed_record_in_a_rest_page_and_a_bulk_page(
    http: requests.Session, served: Served, sf: Salesforce
) -> None:
    set_faults(http, served, {"malformed_record": {"count": 1, "path": "/query"}})
    page = sf.query("SELECT Id, Name, SystemModstamp FROM Account LIMIT 10")["records"]
    bad = [r for r in page if r["SystemModstamp"] == "not-a-date"]
    assert len(bad) == 1
    set_faults(http, served, {"malformed_record": {"count": 1, "path": "/results"}})
    text = "".join(sf.bulk2.Account.query("SELECT Id, MRR__c FROM Account", wait=0))
    values = [r["MRR__c"] for r in csv.DictReader(io.StringIO(text))]
    assert values.count("12,34.5") == 1


def test_bulk_jobs_that_fail(http: requests.Session, served: Served, sf: Salesforce) -> None:
    set_faults(http, served, {"bulk_job_failed": {"count": 1, "path": "/jobs/query"}})
    with pytest.raises(SalesforceOperationError, match="InternalServerError"):
        list(sf.bulk2.Account.query("SELECT Id FROM Account", wait=0))
    set_faults(http, served, {"bulk_job_failed": {"count": 1, "path": "/jobs/ingest"}})
    with pytest.raises(SalesforceOperationError, match="Failed to process"):
        sf.bulk2.Contact.insert(records=[{"LastName": "Never"}, {"LastName": "Written"}], wait=0)
    h = {"Authorization": "Bearer " + sf.session_id}
    jobs = http.get(served.base_url + "/services/data/v62.0/jobs/ingest", headers=h).json()
    jobs = jobs["records"]
    failed = [j for j in jobs if j["state"] == "Failed"][-1]
    unprocessed = sf.bulk2.Contact.get_unprocessed_records(failed["id"])
    assert [r["LastName"] for r in csv.DictReader(io.StringIO(unprocessed))] == [
        "Never", "Written"]  # fmt: skip
    assert sf.query("SELECT COUNT() FROM Contact WHERE LastName = 'Never'")["totalSize"] == 0


def test_bulk_in_progress_makes_the_client_poll(
    http: requests.Session, served: Served, sf: Salesforce
) -> None:
    set_faults(http, served, {"bulk_in_progress": {"count": 2}})
    h = {"Authorization": "Bearer " + sf.session_id}
    jobs = served.base_url + "/services/data/v62.0/jobs/query"
    job = http.post(jobs, json={"operation": "query", "query": "SELECT Id FROM User"},
                    headers=h).json()  # fmt: skip
    states = [http.get(f"{jobs}/{job['id']}", headers=h).json()["state"] for _ in range(3)]
    assert states == ["InProgress", "InProgress", "JobComplete"]
    early = http.post(jobs, json={"operation": "query", "query": "SELECT Id FROM User"},
                      headers=h).json()  # fmt: skip
    set_faults(http, served, {"bulk_in_progress": {"count": 1}})
    assert http.get(f"{jobs}/{early['id']}", headers=h).json()["state"] == "InProgress"
    not_ready = http.get(f"{jobs}/{early['id']}/results", headers=h)
    assert not_ready.status_code == 400 and not_ready.json()[0]["errorCode"] == "JOB_NOT_COMPLETE"


def test_ingest_rows_that_fail_validation(
    http: requests.Session, served: Served, sf: Salesforce
) -> None:
    set_faults(http, served, {"ingest_row_invalid": {"count": 1}})
    res = sf.bulk2.Account.upsert(
        records=[{"Billing_Customer_Id__c": f"cus_{i:014d}", "Billing_Status__c": "unpaid"}
                 for i in range(3)],
        external_id_field="Billing_Customer_Id__c", wait=0)[0]  # fmt: skip
    assert res["numberRecordsFailed"] == 1
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Account.get_failed_records(res["job_id"]))))
    assert failed[0]["sf__Error"].startswith("FIELD_CUSTOM_VALIDATION_EXCEPTION:")
    assert failed[0]["sf__Id"]  # the row named an existing record


def test_unable_to_lock_row_on_rest_and_collection_writes(
    http: requests.Session, served: Served, sf: Salesforce
) -> None:
    rid = sf.query("SELECT Id FROM Account WHERE IsDeleted = false LIMIT 1")["records"][0]["Id"]
    set_faults(http, served, {"unable_to_lock_row": {"count": 1}})
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Account.update(rid, {"Billing_Status__c": "unpaid"})
    assert err.value.content[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
    set_faults(http, served, {"unable_to_lock_row": {"count": 1}})
    out = sf.restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Account"}, "Id": rid, "Billing_Status__c": "unpaid"},
        {"attributes": {"type": "Account"}, "Id": rid, "Billing_Status__c": "active"},
    ]})  # fmt: skip
    assert out[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert out[1]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"  # same id twice in one call
    assert sf.Account.update(rid, {"Billing_Status__c": "active"}) == 204
