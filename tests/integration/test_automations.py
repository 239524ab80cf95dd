"""Automations, rollback, incident commands and review items stopping automations, on the S
world's DuckDB build against the Salesforce stand-in serving a copy of the same world (real
HTTPS, real dbt build), judged by the stand-in's write journal and its notifications receiver,
never by our own counters."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from typer.testing import CliRunner

from extractors.salesforce.client import RetrySettings, SalesforceClient, SalesforceCredentials
from extractors.salesforce.writer import SalesforceWriter
from orchestration.assets.writeback import WebhookNotifier, queue_health_problems
from orchestration.cli import app
from q2c.audit.trail import AuditEvent, record_events
from q2c.policy import kill_switch
from q2c.policy.loader import default_contract
from q2c.review import list_items, resolve
from q2c.warehouse import Warehouse
from q2c.writeback import FLOWS, run_flow, sync_rows
from q2c.writeback.automations import CLASSES, blocked_reasons, run_automation, support_rows
from q2c.writeback.decisions import to_canonical, to_label
from q2c.writeback.rollback import rollback
from sandbox.salesforce.app import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, create_app
from sandbox.salesforce.serve import Served, serve_tls
from tests.integration.test_review_queue import _inject_a_persons_mrr_edit
from tests.integration.test_review_queue import wh as s_build_copy  # noqa: F401
from tests.integration.test_writeback_salesforce import gate

pytestmark = pytest.mark.integration
CONTRACT = default_contract()


@pytest.fixture(scope="module")
def served(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    world = tmp_path_factory.mktemp("auto-world")
    shutil.copy(world_s / "salesforce.sqlite", world / "salesforce.sqlite")
    with serve_tls(create_app(world), tmp_path_factory.mktemp("auto-certs")) as srv:
        yield srv


@pytest.fixture(scope="module")
def http(served: Served) -> requests.Session:
    s = requests.Session()
    s.verify, s.trust_env = served.ca_file, False
    return s


@pytest.fixture(scope="module")
def writer(served: Served) -> SalesforceWriter:
    creds = SalesforceCredentials(
        login_url=served.base_url,
        client_id=SANDBOX_CLIENT_ID,
        client_secret=SANDBOX_CLIENT_SECRET,
        ca_bundle=served.ca_file,
    )
    retry = RetrySettings(attempts=2, base_wait=0.01, max_wait=0.02)
    return SalesforceWriter(SalesforceClient(creds, retry=retry), poll_max=0.05)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("Q2C_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def wh(s_build_copy: Warehouse) -> Warehouse:  # noqa: F811
    """A copy of the S world's DuckDB build (test_review_queue's fixture)."""
    return s_build_copy


def clean(wh: Warehouse) -> None:
    """Reconciliation clean for every class: every threshold holds, no input finding."""
    wh.execute("update reconciliation.rec_verdict set is_passing = true")
    wh.execute("delete from reconciliation.dq_findings")


def journal(http: requests.Session, served: Served, since: int, sobject: str) -> list[dict]:
    r = http.get(served.base_url + "/__sandbox/journal",
                 params={"since_seq": since, "sobject": sobject, "limit": 100000})  # fmt: skip
    r.raise_for_status()
    return r.json()


def last_seq(http: requests.Session, served: Served) -> int:
    r = http.get(served.base_url + "/__sandbox/journal", params={"since_seq": 0, "limit": 100000})
    rows = r.json()
    return rows[-1]["seq"] if rows else 0


def run(name: str, wh: Warehouse, writer: Any, home: Path, run_id: str, **kw: Any) -> Any:
    return run_automation(name, wh, CONTRACT, writer=writer, notifier=kw.get("notifier"),
                          gate=gate, run_id=run_id, home=home, sleep=lambda _s: None)  # fmt: skip


def test_reverse_value_map_sends_the_orgs_label() -> None:
    vm = CONTRACT.mapping.value_map("billing_status")
    assert to_label(vm, "past_due") == "Overdue"  # the first label the map names
    assert to_label(vm, "past_due", ["active", "past_due"]) == "past_due"  # the org's own word
    assert to_label(vm, "past_due", ["Active", "Delinquent"]) == "Delinquent"
    assert to_label(vm, "canceled", ["Cancelled"]) == "Cancelled"
    assert to_canonical(vm, "delinquent") == "past_due" and to_canonical(vm, "xyz") == "xyz"
    limits = CONTRACT.writeback.queue_health
    assert queue_health_problems({"outbox_depth": 0, "dlq_volume": 0}, limits) == []
    assert queue_health_problems({"dlq_volume": 2}, limits) == ["dead letters 2 > 0"]


def test_each_class_runs_only_when_reconciliation_is_clean_and_is_paused_alone(
    wh: Warehouse, writer: SalesforceWriter, home: Path, http: requests.Session, served: Served
) -> None:
    before = last_seq(http, served)
    wh.execute("update reconciliation.rec_verdict set is_passing = false"
               " where threshold_id = (select min(threshold_id) from reconciliation.rec_verdict"
               " where phase = 'automation')")  # fmt: skip
    for name in ("support_enrichment", "renewal_opportunities"):
        report = run(name, wh, writer, home, "held")
        assert any("rec_verdict automation" in r for r in report.blocked), report.blocked
    clean(wh)
    kill_switch.pause("automation_renewal_opportunities", "test", home=home)
    assert run("renewal_opportunities", wh, writer, home, "paused").blocked == [
        "kill switch on: automation_renewal_opportunities is paused"]  # fmt: skip
    assert journal(http, served, before, "Opportunity") == []
    assert journal(http, served, before, "Case") == []
    # the others are not paused with it
    assert blocked_reasons(wh, CONTRACT, "support_enrichment", home) == []


def test_support_enrichment_flags_each_case_once_per_billing_event_then_rolls_back(
    wh: Warehouse, writer: SalesforceWriter, home: Path, http: requests.Session, served: Served
) -> None:
    clean(wh)
    rows = support_rows(wh)
    assert rows and all(r["source_ref"].startswith("billing:event:evt_") for r in rows)
    before = last_seq(http, served)
    first = run("support_enrichment", wh, writer, home, "se-1")
    flipped = journal(http, served, before, "Case")
    assert first.written == len(flipped) > 0
    assert {j["after"]["Billing_Priority_Flag__c"] for j in flipped} == {True}
    # a retry of the same events (and a rerun) flips nothing again
    mid = last_seq(http, served)
    run("support_enrichment", wh, writer, home, "se-2")
    assert journal(http, served, mid, "Case") == []

    dry = rollback(wh, writer, CONTRACT, flow="automation_support_enrichment", run="se-1",
                   run_id="rb-dry", dry_run=True)  # fmt: skip
    assert dry.records == len(flipped) and journal(http, served, mid, "Case") == []
    done = rollback(wh, writer, CONTRACT, flow="automation_support_enrichment", run="se-1",
                    run_id="rb-1", sleep=lambda _s: None)  # fmt: skip
    back = journal(http, served, mid, "Case")
    assert done.rolled_back == len(back) == len(flipped)
    assert {j["record_id"] for j in back} == {j["record_id"] for j in flipped}
    assert {j["after"]["Billing_Priority_Flag__c"] for j in back} == {False}
    rolled = wh.fetchall("select count(*) from ops.audit_trail where action = 'rolled_back'")
    assert rolled[0][0] == len(flipped)
    # rolling back again writes nothing (already undone)
    end = last_seq(http, served)
    rollback(wh, writer, CONTRACT, flow="automation_support_enrichment", run_id="rb-2")
    assert journal(http, served, end, "Case") == []


def test_renewal_opportunities_one_per_subscription_period(
    wh: Warehouse, writer: SalesforceWriter, home: Path, http: requests.Session, served: Served
) -> None:
    clean(wh)
    before = last_seq(http, served)
    first = run("renewal_opportunities", wh, writer, home, "rn-1")
    made = journal(http, served, before, "Opportunity")
    assert first.written == len(made) > 0
    keys = [j["after"]["Renewal_Key__c"] for j in made]
    assert len(set(keys)) == len(keys) and all(":" in k for k in keys)
    assert all(j["before"] is None for j in made)  # created, one per period
    mid = last_seq(http, served)
    run("renewal_opportunities", wh, writer, home, "rn-2")
    assert journal(http, served, mid, "Opportunity") == []
    # nothing to write back for records q2c created: reported, not deleted
    rb = rollback(wh, writer, CONTRACT, flow="automation_renewal_opportunities", run_id="rb")
    assert rb.created_by_q2c == len(made) and rb.rolled_back == 0


def test_finance_notifications_reach_the_webhook_once_each(
    wh: Warehouse, home: Path, http: requests.Session, served: Served
) -> None:
    clean(wh)
    url = served.base_url + "/__sandbox/notifications"
    seen = len(http.get(url).json()["received"])
    notifier = WebhookNotifier(url, verify=served.ca_file)
    first = run("finance_notifications", wh, None, home, "fn-1", notifier=notifier)
    got = http.get(url).json()
    assert first.notified == len(got["received"]) - seen > 0
    run("finance_notifications", wh, None, home, "fn-2", notifier=notifier)
    assert len(http.get(url).json()["received"]) - seen == first.notified
    sent = wh.fetchall("select count(*) from ops.notifications where status = 'sent'")[0][0]
    assert sent == first.notified
    audited = wh.fetchall("select count(*) from ops.audit_trail where action = 'notified'")
    assert audited[0][0] == first.notified  # not `written`: nothing reached the CRM
    # a delivery q2c repeats (it could not record the first) carries the same key: the receiver
    # keeps it once
    wh.execute("update ops.notifications set status = 'pending' where notification_id ="
               " (select min(notification_id) from ops.notifications)")  # fmt: skip
    run("finance_notifications", wh, None, home, "fn-3", notifier=notifier)
    after = http.get(url).json()
    assert len(after["received"]) - seen == first.notified and after["duplicates"]


def test_red_flags_stop_their_automation_until_resolved(
    wh: Warehouse, writer: SalesforceWriter, home: Path, http: requests.Session, served: Served
) -> None:
    clean(wh)
    # repeated idempotency collisions on one operation (injected: the same key found done
    # three times): the automation leaves that case alone
    case_id = support_rows(wh)[0]["case_id"]
    record_events(wh, [AuditEvent("skipped_duplicate", f"dup-{n}", "test", result="duplicate",
                                  flow="automation_support_enrichment", target_object="Case",
                                  target_id=case_id, match_value=case_id, idempotency_key="k1")
                       for n in range(3)])  # fmt: skip
    # a person's edit of a q2c-owned field with no source event: the account's writes stop
    account_id = _inject_a_persons_mrr_edit(wh)
    spec = FLOWS["crm_account_sync"]
    rows = sync_rows(wh, spec)
    mine = [r for r in rows if r["account_id"] == account_id]
    for r in mine:
        r["proposed_value"] = "4242.42" if r["field_api_name"] == "MRR__c" else r["proposed_value"]
    before = last_seq(http, served)
    first = run("support_enrichment", wh, writer, home, "rf-1")  # opens the items first
    items = list_items(wh)
    assert {"crm_owned_field_changed_without_source_event", "break_above_materiality",
            "repeated_idempotency_collisions"} <= {i.flag for i in items}  # fmt: skip
    collision = [i for i in items if i.flag == "repeated_idempotency_collisions"]
    assert [(i.flow, i.subject_id) for i in collision] == [("automation_support_enrichment",
                                                            case_id)]  # fmt: skip
    assert first.held_for_review >= 1
    assert (
        wh.fetchall(
            "select count(*) from ops.audit_trail where action = 'held_for_review'"
            " and match_value = ? and run_id = 'rf-1'",
            [case_id],
        )[0][0]
        == 1
    )
    edit = [i for i in items if i.flag == "crm_owned_field_changed_without_source_event"
            and i.subject_id == account_id]  # fmt: skip
    assert edit and edit[0].packet["account_id"] == account_id
    report = run_flow(spec, mine, contract=CONTRACT, warehouse=wh, writer=writer, run_id="rf-2",
                      gate=gate, home=home, sleep=lambda _s: None)  # fmt: skip
    assert report.held_for_review == 1 and report.written == 0
    assert [j for j in journal(http, served, before, "Account")
            if j["record_id"] == account_id] == []  # fmt: skip
    held = wh.fetchall("select count(*) from ops.audit_trail where action = 'held_for_review'"
                       " and target_id = ?", [account_id])  # fmt: skip
    assert held[0][0] == 1

    # resolving records who, when and the decision; the hold ends
    customer = mine[0]["billing_customer_id"]
    for item in [i for i in list_items(wh) if i.subject_id in (account_id, customer)]:
        done = resolve(wh, item.review_id, decision="approve", by="Elena Duarte", note="ok")
        assert (done.status, done.resolved_by, done.decision) == ("resolved", "Elena Duarte",
                                                                  "approve")  # fmt: skip
        assert done.resolved_at is not None
    again = run_flow(spec, mine, contract=CONTRACT, warehouse=wh, writer=writer, run_id="rf-3",
                     gate=gate, home=home, sleep=lambda _s: None)  # fmt: skip
    assert again.held_for_review == 0 and again.written == 1
    assert [j["record_id"] for j in journal(http, served, before, "Account")] == [account_id]


def test_incident_pause_replay_resume(
    wh: Warehouse, home: Path, monkeypatch: pytest.MonkeyPatch, served: Served
) -> None:
    monkeypatch.setenv("Q2C_WAREHOUSE_URL", f"duckdb:///{wh.duckdb_path}")
    for k, v in {
        "LOGIN_URL": served.base_url,
        "CLIENT_ID": SANDBOX_CLIENT_ID,
        "CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
        "CA_BUNDLE": served.ca_file,
    }.items():
        monkeypatch.setenv(f"Q2C_SALESFORCE_{k}", v)
    wh.close()  # the commands open the file themselves
    cli = CliRunner()
    paused = json.loads(cli.invoke(app, ["incident", "pause", "--reason", "t", "--json"]).stdout)
    assert set(paused["paused"]) == {"crm_account_enrichment", "support_case_priority",
                                     "automation_support_enrichment",
                                     "automation_renewal_opportunities"}  # fmt: skip
    assert not kill_switch.is_paused("erp_journal_export", home=home)
    assert not kill_switch.is_paused("automation_finance_notifications", home=home)
    out = cli.invoke(app, ["incident", "replay", "--json"])
    # the S world's ERP breaks are open: the financial stage ran, subscription state waits
    assert out.exit_code == 3, out.output
    doc = json.loads(out.stdout)
    assert list(doc["stages"]) == ["financial"] and doc["waiting"]["stage"] == "subscription"
    assert any("erp_" in o for o in doc["waiting"]["open"])
    assert kill_switch.is_paused("crm_account_enrichment", home=home)
    with Warehouse.from_url(f"duckdb:///{wh.duckdb_path}") as w:
        w.execute("delete from reconciliation.rec_breaks where break_kind like 'erp_%'"
                  " or break_kind like 'payout_%'")  # fmt: skip
    out = cli.invoke(app, ["incident", "replay", "--json"])
    doc = json.loads(out.stdout)
    assert "subscription" in doc["stages"] and not kill_switch.is_paused(
        "crm_account_enrichment", home=home)  # fmt: skip
    resumed = json.loads(cli.invoke(app, ["incident", "resume", "--json"]).stdout)
    assert not kill_switch.paused_flows(home=home), resumed
    assert cli.invoke(app, ["incident", "resume"]).exit_code == 2


def test_every_class_is_in_the_contract() -> None:
    assert set(CLASSES) == set(CONTRACT.automations)
