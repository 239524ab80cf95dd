"""The CRM write-back against the Salesforce stand-in (real HTTPS, real DuckDB), judged by the
stand-in's write journal and fault counters, never by our own counters."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from typer.testing import CliRunner

from extractors.salesforce.client import RetrySettings, SalesforceClient, SalesforceCredentials
from extractors.salesforce.writer import SalesforceWriter
from q2c.audit import events_for, trace
from q2c.policy.loader import default_contract
from q2c.warehouse import Warehouse
from q2c.writeback import FLOWS, run_flow
from q2c.writeback.model import RowResult
from q2c.writeback.redrive import redrive
from q2c.writeback.store import dead_letters, open_rows
from sandbox.salesforce.app import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_PASSWORD,
    create_app,
)
from sandbox.salesforce.serve import Served, serve_tls
from sandbox.salesforce.synthetic import write_world

pytestmark = pytest.mark.integration

ACCOUNTS = FLOWS["crm_account_sync"]
CASES = FLOWS["crm_case_sync"]
N_ACCOUNTS = 120
WRITE_SET = {"MRR__c", "ARR__c", "Billing_Status__c", "Last_Payment_Date__c",
             "Payout_Hold_Reason__c"}  # fmt: skip


@dataclass
class Passed:
    passed: bool = True
    reasons: tuple[str, ...] = ()


def gate(_batch: Any) -> Passed:
    return Passed()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wb-world")
    write_world(path, N_ACCOUNTS, deleted_every=0)
    return path


@pytest.fixture(scope="module")
def served(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve_tls(create_app(world), tmp_path_factory.mktemp("wb-certs")) as srv:
        yield srv


@pytest.fixture(scope="module")
def http(served: Served) -> requests.Session:
    s = requests.Session()
    s.verify = served.ca_file
    s.trust_env = False
    return s


def client(served: Served, username: str | None = None) -> SalesforceClient:
    creds = SalesforceCredentials(
        login_url=served.base_url, client_id=SANDBOX_CLIENT_ID,
        client_secret=SANDBOX_CLIENT_SECRET, username=username,
        password=SANDBOX_PASSWORD if username else None, ca_bundle=served.ca_file,
    )  # fmt: skip
    return SalesforceClient(creds, retry=RetrySettings(attempts=2, base_wait=0.01, max_wait=0.02))


@pytest.fixture(scope="module")
def writer(served: Served) -> SalesforceWriter:
    return SalesforceWriter(client(served), poll_max=0.05)


@pytest.fixture()
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    with Warehouse.from_url(f"duckdb:///{tmp_path / 'wh.duckdb'}") as w:
        yield w


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("Q2C_HOME", str(tmp_path))
    return tmp_path


def journal(http: requests.Session, served: Served, since: int = 0, **q: str) -> list[dict]:
    r = http.get(served.base_url + "/__sandbox/journal", params={"since_seq": since, **q})
    r.raise_for_status()
    return r.json()


def last_seq(http: requests.Session, served: Served) -> int:
    rows = journal(http, served, limit="100000")
    return rows[-1]["seq"] if rows else 0


def account(sf_writer: SalesforceWriter, i: int) -> dict[str, Any]:
    cur = sf_writer.read_current("Account", "Billing_Customer_Id__c", [f"cus_{i:014d}"],
                                 sorted(WRITE_SET))  # fmt: skip
    rec = cur[f"cus_{i:014d}"]
    return {"Id": rec.record_id, **rec.values}


def account_rows(ids: Sequence[int], *, mrr: str = "1234.50", extra: dict | None = None,
                 crm: dict[int, str] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    rows = []
    for i in ids:
        cid = f"cus_{i:014d}"
        fields = {"MRR__c": mrr, "Billing_Status__c": "past_due", **(extra or {})}
        for name, value in fields.items():
            rows.append({
                "account_field_id": f"{i}|{name}", "account_id": None,
                "billing_customer_id": cid, "match_on": "Billing_Customer_Id__c",
                "field_api_name": name, "proposed_value": value,
                "crm_value": (crm or {}).get(i), "source_ref": f"billing:customer:{cid}",
            })  # fmt: skip
    return rows


def run(rows: list[dict], wh: Warehouse, w: Any, home: Path, run_id: str, spec: Any = ACCOUNTS,
        contract: Any = None, sleeps: list[float] | None = None) -> Any:  # fmt: skip
    return run_flow(
        spec, rows, contract=contract or sandbox_contract(), warehouse=wh, writer=w,
        run_id=run_id, gate=gate, home=home, sleep=(sleeps if sleeps is not None else []).append,
        rng=random.Random(1),
    )  # fmt: skip


def sandbox_contract() -> Any:
    c = default_contract()
    # the sandbox company's contract runs both CRM flows in controlled_writes
    assert {c.rollout[f].phase for f in ("crm_account_enrichment", "support_case_priority")} == {
        "controlled_writes"
    }
    return c


def test_two_runs_in_a_row_the_second_writes_nothing(
    wh: Warehouse, writer: SalesforceWriter, home: Path, http: requests.Session, served: Served
) -> None:
    before = last_seq(http, served)
    rows = account_rows(range(0, 20))
    first = run(rows, wh, writer, home, "r1")
    written = journal(http, served, before, sobject="Account")
    assert first.written == 20 and len(written) == 20
    assert {j["after"]["MRR__c"] for j in written} == {1234.5}
    mid = last_seq(http, served)
    second = run(rows, wh, writer, home, "r2")
    assert journal(http, served, mid) == []
    assert second.written == 0 and second.sent == 0


def test_fields_outside_the_write_set_are_refused_and_never_written(
    wh: Warehouse, writer: SalesforceWriter, home: Path, http: requests.Session, served: Served
) -> None:
    before = last_seq(http, served)
    rows = account_rows(range(20, 30), mrr="77.00", extra={"Name": "Hijacked", "Phone": "1"})
    report = run(rows, wh, writer, home, "r3")
    assert report.refused == 20
    for j in journal(http, served, before, sobject="Account"):
        changed = {k for k, v in j["after"].items() if j["before"].get(k) != v}
        assert changed <= WRITE_SET | {"SystemModstamp", "LastModifiedDate", "LastModifiedById"}
        assert j["after"]["Name"] != "Hijacked"
    refused = wh.fetchall("select count(*) from ops.audit_trail where action = 'refused'")
    assert refused[0][0] == 20


class KilledAfterSend:
    """Sends for real, then dies before the engine can record anything (a killed process)."""

    def __init__(self, inner: SalesforceWriter) -> None:
        self.inner = inner
        self.stats = inner.stats

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def write(self, *args: Any, **kw: Any) -> list[RowResult]:
        self.inner.write(*args, **kw)
        raise KeyboardInterrupt("killed after send, before record")


def test_killed_after_send_before_record_then_rerun_writes_nothing_twice(
    wh: Warehouse, writer: SalesforceWriter, home: Path, http: requests.Session, served: Served
) -> None:
    before = last_seq(http, served)
    rows = account_rows(range(30, 40), mrr="555.55")
    with pytest.raises(KeyboardInterrupt):
        run(rows, wh, KilledAfterSend(writer), home, "crash")
    assert len(open_rows(wh, "crm_account_enrichment", ["in_flight"])) == 10
    report = run(rows, wh, writer, home, "after-crash")
    assert report.reconciled == 10 and report.sent == 0
    per_record: dict[str, int] = {}
    for j in journal(http, served, before, sobject="Account"):
        per_record[j["record_id"]] = per_record.get(j["record_id"], 0) + 1
    assert len(per_record) == 10 and set(per_record.values()) == {1}
    assert open_rows(wh, "crm_account_enrichment", ["in_flight", "pending"]) == []


def test_a_persons_edit_is_resolved_by_the_winner_rule_and_the_losing_value_kept(
    wh: Warehouse, writer: SalesforceWriter, home: Path, http: requests.Session, served: Served
) -> None:
    # Account.MRR__c is owner_wins: billing's value overwrites a person's edit, theirs is kept
    run(account_rows([40], mrr="100.00"), wh, writer, home, "p1")
    person = client(served, "rep1@q2c.example")
    rec = account(writer, 40)
    person.call("edit", lambda sf: sf.Account.update(rec["Id"], {"MRR__c": 999}))
    before = last_seq(http, served)
    # the next extract shows the person's value as the CRM's
    report = run(account_rows([40], mrr="100.00", crm={40: "999"}), wh, writer, home, "p2")
    assert report.written == 1 and account(writer, 40)["MRR__c"] in (100, 100.0)
    assert len(journal(http, served, before, sobject="Account")) == 1
    lost = [e for e in events_for(wh, [rec["Id"]]) if e["action"] == "conflict_lost"]
    assert lost and lost[-1]["losing_values"] == {"account.mrr": "999"}

    # Case.Billing_Priority_Flag__c is human_edit_wins: a person's clear stands
    cases = person.call(
        "q",
        lambda sf: sf.query("SELECT Id FROM Case WHERE Billing_Priority_Flag__c = false LIMIT 1"),
    )["records"]
    case_id = str(cases[0]["Id"])
    rows = [{"case_field_id": f"{case_id}|Billing_Priority_Flag__c", "case_id": case_id,
             "match_on": "Id", "field_api_name": "Billing_Priority_Flag__c",
             "proposed_value": "true", "crm_value": "false",
             "source_ref": "billing:customer:cus_x:subscriptions"}]  # fmt: skip
    assert run(rows, wh, writer, home, "c1", spec=CASES).written == 1
    person.call("clear", lambda sf: sf.Case.update(case_id, {"Billing_Priority_Flag__c": False}))
    mid = last_seq(http, served)
    report = run(rows, wh, writer, home, "c2", spec=CASES)
    assert journal(http, served, mid) == [] and report.written == 0
    lost = [e for e in events_for(wh, [case_id]) if e["action"] == "conflict_lost"]
    assert lost[-1]["losing_values"] == {"case.billing_priority_flag": "true"}
    assert lost[-1]["result"] == "theirs won"
    # a third run records the same conflict once, not again
    run(rows, wh, writer, home, "c3", spec=CASES)
    assert len([e for e in events_for(wh, [case_id]) if e["action"] == "conflict_lost"]) == 2


def test_poison_rows_reach_the_dlq_after_exactly_max_receive_count_then_redrive_once_each(
    wh: Warehouse, writer: SalesforceWriter, home: Path, http: requests.Session, served: Served
) -> None:
    contract = sandbox_contract()
    max_receive = contract.max_receive_count
    poison = [account(writer, i)["Id"] for i in (50, 51, 52)]
    url = served.base_url + "/__sandbox/faults"
    http.put(url, json={"ingest_row_invalid": {"rate": 1, "record_ids": poison}}).raise_for_status()
    try:
        rows = account_rows(range(50, 56), mrr="42.00")
        for n in range(max_receive + 1):
            run(rows, wh, writer, home, f"poison-{n}", contract=contract)
        fired = http.get(url + "/fired").json()
        for rid in poison:  # validation errors are not retried within a run: one per run
            assert fired[f"ingest_row_invalid:{rid}"] == max_receive
        dead = dead_letters(wh)
        assert sorted(d["record_id"] for d in dead) == sorted(poison)
        assert all(d["attempts"] == max_receive and len(d["errors"]) == max_receive
                   for d in dead)  # fmt: skip
        assert {d["error_kind"] for d in dead} == {"FIELD_CUSTOM_VALIDATION_EXCEPTION"}
        chain = trace(wh, poison[0])
        assert [e["action"] for e in chain.audit].count("attempt_failed") == max_receive - 1
        assert chain.audit[-1]["action"] == "dead_lettered"
        assert chain.dead_letters[0]["status"] == "dead"
    finally:
        http.put(url, json={"ingest_row_invalid": None}).raise_for_status()
    before = last_seq(http, served)
    result = redrive(wh, writer, contract, run_id="redrive-1", current_rows=rows, spec=ACCOUNTS)
    assert result.redriven == 3
    redone = journal(http, served, before, sobject="Account")
    assert [j["record_id"] for j in redone] == [d["record_id"] for d in dead]  # oldest first
    assert dead_letters(wh) == []
    mid = last_seq(http, served)
    again = redrive(wh, writer, contract, run_id="redrive-2", current_rows=rows, spec=ACCOUNTS)
    assert again.redriven == 0 and journal(http, served, mid) == []


def test_transient_lock_errors_are_retried_in_the_run_with_backoff(
    wh: Warehouse, writer: SalesforceWriter, home: Path, http: requests.Session, served: Served
) -> None:
    url = served.base_url + "/__sandbox/faults"
    http.put(url, json={"unable_to_lock_row": {"count": 2}}).raise_for_status()
    sleeps: list[float] = []
    report = run(account_rows(range(60, 64), mrr="8.00"), wh, writer, home, "lock",
                 sleeps=sleeps)  # fmt: skip
    assert report.written == 4 and report.failed_attempts == 2 and len(sleeps) == 1


def test_bulk_api_upsert_above_the_threshold(
    wh: Warehouse, writer: SalesforceWriter, home: Path, http: requests.Session, served: Served
) -> None:
    c = sandbox_contract()
    small = c.model_copy(update={"writeback": c.writeback.model_copy(update={"bulk_threshold": 5})})
    before = last_seq(http, served)
    jobs = writer.stats.bulk_jobs
    report = run(account_rows(range(70, 100), mrr="3.33"), wh, writer, home, "bulk",
                 contract=small)  # fmt: skip
    assert report.bulk and report.written == 30 and writer.stats.bulk_jobs == jobs + 1
    assert len(journal(http, served, before, sobject="Account")) == 30
    # accounts already past_due got only MRR in the same CSV: their status stays, never nulled
    assert {account(writer, i)["Billing_Status__c"] for i in range(70, 100)} == {"past_due"}


def test_read_only_phase_records_what_it_would_write_and_sends_nothing(
    wh: Warehouse, writer: SalesforceWriter, home: Path, http: requests.Session, served: Served
) -> None:
    c = sandbox_contract()
    rollout = {**c.rollout}
    rollout["crm_account_enrichment"] = rollout["crm_account_enrichment"].model_copy(
        update={"phase": "read_only"})  # fmt: skip
    before = last_seq(http, served)
    report = run(account_rows(range(100, 105)), wh, writer, home, "ro",
                 contract=c.model_copy(update={"rollout": rollout}))  # fmt: skip
    assert report.would_write == 5 and journal(http, served, before) == []


def test_kill_switch_and_max_writes_per_run_stop_before_a_batch(
    wh: Warehouse, writer: SalesforceWriter, home: Path, http: requests.Session, served: Served
) -> None:
    from q2c.policy.kill_switch import pause, resume

    c = sandbox_contract()
    pause("crm_account_enrichment", "test", home=home, contract=c)
    before = last_seq(http, served)
    report = run(account_rows(range(105, 110)), wh, writer, home, "paused", contract=c)
    assert report.stopped and "kill switch" in report.stopped
    assert journal(http, served, before) == []
    resume("crm_account_enrichment", home=home, contract=c)
    rollout = {**c.rollout}
    rollout["crm_account_enrichment"] = rollout["crm_account_enrichment"].model_copy(
        update={"max_writes_per_run": 3})  # fmt: skip
    capped = c.model_copy(update={"rollout": rollout})
    report = run(account_rows(range(105, 110)), wh, writer, home, "capped", contract=capped)
    assert report.written == 3 and report.deferred == 2
    assert len(journal(http, served, before, sobject="Account")) == 3


def test_trace_shows_the_chain_of_a_written_account(
    wh: Warehouse, writer: SalesforceWriter, home: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from orchestration.cli import app

    run(account_rows([110], mrr="11.00"), wh, writer, home, "trace-run")
    rid = account(writer, 110)["Id"]
    wh.close()
    monkeypatch.setenv("Q2C_WAREHOUSE_URL", wh.url)
    result = CliRunner().invoke(app, ["trace", rid, "--json"])
    assert result.exit_code == 0, result.output
    chain = json.loads(result.stdout)
    actions = [e["action"] for e in chain["audit"]]
    assert "written" in actions
    written = next(e for e in chain["audit"] if e["action"] == "written")
    assert written["after_values"]["MRR__c"] == "11.00" and written["target_id"] == rid
    assert chain["outbox"][0]["status"] == "done"
    human = CliRunner().invoke(app, ["trace", "cus_00000000000110"])
    assert human.exit_code == 0 and "written" in human.stdout


@pytest.mark.postgres
def test_on_postgres_the_outbox_audit_trail_and_dlq_behave_the_same(
    postgres_db: str, writer: SalesforceWriter, home: Path, http: requests.Session,
    served: Served,
) -> None:  # fmt: skip
    contract = sandbox_contract()
    url = served.base_url + "/__sandbox/faults"
    with Warehouse.from_url(postgres_db) as pg:
        before = last_seq(http, served)
        rows = account_rows(range(111, 116), mrr="66.00")
        with pytest.raises(KeyboardInterrupt):
            run(rows, pg, KilledAfterSend(writer), home, "pg-crash")
        again = run(rows, pg, writer, home, "pg-after")
        assert again.reconciled == 5 and again.sent == 0
        assert run(rows, pg, writer, home, "pg-third").sent == 0
        assert len(journal(http, served, before, sobject="Account")) == 5
        poison = account(writer, 116)["Id"]
        http.put(url, json={"ingest_row_invalid": {"rate": 1, "record_ids": [poison]}})
        try:
            for n in range(contract.max_receive_count):
                run(account_rows([116], mrr="5.00"), pg, writer, home, f"pg-p{n}")
        finally:
            http.put(url, json={"ingest_row_invalid": None}).raise_for_status()
        (dead,) = dead_letters(pg)
        assert dead["attempts"] == contract.max_receive_count and dead["record_id"] == poison
        assert trace(pg, poison).audit[-1]["action"] == "dead_lettered"
