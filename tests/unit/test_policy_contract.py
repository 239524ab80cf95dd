"""The shipped contract loads and describes the sandbox world; broken contracts fail with a
located, actionable message (file, line, what is wrong, how to fix)."""

from __future__ import annotations

from pathlib import Path

import pytest

from q2c.policy import ContractError, load_contract
from q2c.policy.loader import REPO_CONTRACT
from sandbox.world.salesforce_schema import SOBJECTS

pytestmark = pytest.mark.unit

SHIPPED = REPO_CONTRACT.read_text(encoding="utf-8")


def _line_of(text: str, needle: str) -> int:
    """1-based line of the first occurrence of `needle` in `text`."""
    idx = text.index(needle)
    return text.count("\n", 0, idx) + 1


def _broken(old: str, new: str, count: int = 1) -> str:
    assert SHIPPED.count(old) >= 1, f"fixture text not in contract: {old!r}"
    return SHIPPED.replace(old, new, count)


def _issues(text: str, tmp_path: Path) -> list:
    path = tmp_path / "ownership.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ContractError) as exc:
        load_contract(path)
    for issue in exc.value.issues:
        assert issue.file == path
        assert issue.problem and issue.fix
    return exc.value.issues


def _only(issues: list, fragment: str):
    found = [i for i in issues if fragment in i.problem]
    assert found, f"no issue mentions {fragment!r}: {[i.render() for i in issues]}"
    return found[0]


def test_shipped_contract_loads_with_every_section() -> None:
    c = load_contract()
    assert set(c.systems) == {"billing", "crm", "support", "erp"}
    assert set(c.stakeholders) == {"tax", "reporting", "payouts"}
    assert {
        "account",
        "contact",
        "opportunity",
        "subscription",
        "invoice",
        "credit_note",
        "payment",
        "refund",
        "payout",
        "balance_transaction",
        "case",
        "connected_account",
    } <= set(c.entities)
    assert c.max_receive_count == 5
    assert c.bank_account_for("EUR").acctnumber == "1010"
    assert {r: a.accttype for r, a in c.erp.chart_of_accounts.items()}.items() >= {
        "accounts_receivable": "AcctRec",
        "revenue": "Income",
        "refunds": "Income",
        "tax_payable": "OthCurrLiab",
        "stripe_clearing": "OthCurrAsset",
        "bank_usd": "Bank",
        "fees_expense": "Expense",
    }.items()


def test_write_set_is_exactly_the_six_crm_fields_with_external_id_and_the_payout() -> None:
    c = load_contract()
    assert sorted(f"{t.object}.{f}" for t, f in c.write_set() if t.system != "billing") == [
        "Account.ARR__c",
        "Account.Billing_Status__c",
        "Account.Last_Payment_Date__c",
        "Account.MRR__c",
        "Account.Payout_Hold_Reason__c",
        "Case.Billing_Priority_Flag__c",
    ]
    payout = next(t for t in c.writeback.targets if t.system == "billing")
    assert (payout.object, payout.operation, payout.fields) == (
        "payout",
        "create",
        ["amount", "currency"],
    )
    account = next(t for t in c.writeback.targets if t.object == "Account")
    assert (account.match_on, account.operation) == ("Billing_Customer_Id__c", "upsert")


def test_every_salesforce_field_the_contract_names_exists_and_written_ones_are_updateable() -> None:
    c = load_contract()
    fields = {(o, f.name): f for o, fs in SOBJECTS.items() for f in fs}
    for e in c.entities.values():
        for spec in e.fields.values():
            for system in ("crm", "support"):
                if system in spec.sources:
                    obj, name = spec.sources[system].split(".", 1)
                    assert (obj, name) in fields, spec.sources[system]
    for t, api_name in c.write_set():
        if t.system == "billing":  # a payout created on the billing platform, not Salesforce
            continue
        assert fields[(t.object, api_name)].updateable
        assert fields[(t.object, t.match_on)].external_id or t.match_on == "Id"


def test_every_salesforce_object_of_the_world_is_mapped_to_one_entity() -> None:
    c = load_contract()
    mapped = [
        o
        for e in c.entities.values()
        for s, objs in e.objects.items()
        if s in ("crm", "support")
        for o in ([objs] if isinstance(objs, str) else objs)
    ]
    assert sorted(mapped) == sorted(SOBJECTS)


def test_two_systems_of_record_for_one_object_fails_with_line(tmp_path: Path) -> None:
    old = "  account:\n    system_of_record: crm\n"
    text = _broken(old, "  account:\n    system_of_record: [crm, billing]\n")
    issue = _only(_issues(text, tmp_path), "two Systems of Record for one object")
    assert issue.line == _line_of(text, "system_of_record: [crm, billing]")
    assert "readers" in issue.fix


def test_same_object_in_two_entities_with_different_owners_fails(tmp_path: Path) -> None:
    old = "    objects: {billing: product}\n"
    text = _broken(old, "    objects: {billing: product, crm: Account}\n")
    issue = _only(_issues(text, tmp_path), "two Systems of Record for one object")
    assert "crm 'Account'" in issue.problem
    assert issue.line == _line_of(text, "{billing: product, crm: Account}")


def test_duplicate_entity_key_is_reported_not_silently_dropped(tmp_path: Path) -> None:
    text = _broken("  transfer:\n", "  account:\n")
    issue = _only(_issues(text, tmp_path), "appears twice")
    assert issue.where == "entities.account"


def test_written_field_without_owner_fails(tmp_path: Path) -> None:
    old = "      mrr:\n        owner: billing\n"
    text = _broken(old, "      mrr:\n")
    issue = _only(
        _issues(text, tmp_path), "written field Account.MRR__c (account.mrr) has no owner"
    )
    assert issue.line == _line_of(text, "fields: [MRR__c")
    assert "owner:" in issue.fix


def test_written_field_not_mapped_at_all_has_no_owner(tmp_path: Path) -> None:
    text = _broken("fields: [MRR__c,", "fields: [Churn_Risk__c, MRR__c,")
    issue = _only(_issues(text, tmp_path), "written field Account.Churn_Risk__c has no owner")
    assert "sources" in issue.fix


def test_written_field_without_winner_rule_fails(tmp_path: Path) -> None:
    old = (
        "        resolution: {winner: owner_wins, keep_losing_value: true, reason: Billing wins "
        "on financial state.}\n      billing_status:"
    )
    text = _broken(old, "      billing_status:")
    issue = _only(_issues(text, tmp_path), "(account.arr) has no winner rule")
    assert "resolution" in issue.fix


def test_write_set_field_owned_elsewhere_needs_documented_exception(tmp_path: Path) -> None:
    old = next(ln for ln in SHIPPED.splitlines(keepends=True) if "{field: account.mrr," in ln)
    text = _broken(old, "")
    issues = _issues(text, tmp_path)
    issue = _only(issues, "write-set field Account.MRR__c is owned by billing")
    assert "exceptions:" in issue.fix and "account.mrr" in issue.fix
    assert issue.line == _line_of(text, "fields: [MRR__c")
    assert len(issues) == 1


def test_gate_naming_unknown_status_fails(tmp_path: Path) -> None:
    old = "blocking_statuses: [pending, requirements_due, rejected]"
    text = _broken(old, "blocking_statuses: [pending, unverified, rejected]")
    issue = _only(_issues(text, tmp_path), "names unknown status 'unverified'")
    assert "payout_requires_verified_kyc" in issue.problem
    assert "requirements_due" in issue.fix
    assert issue.line == _line_of(text, "[pending, unverified, rejected]")


def test_unknown_phase_fails(tmp_path: Path) -> None:
    old = "crm_account_enrichment: {kind: write, phase: controlled_writes"
    text = _broken(old, "crm_account_enrichment: {kind: write, phase: canary")
    issue = _only(_issues(text, tmp_path), "unknown phase 'canary'")
    assert "read_only, controlled_writes, automation" in issue.fix
    assert issue.line == _line_of(text, "phase: canary")


def test_typo_key_and_missing_key_point_at_lines(tmp_path: Path) -> None:
    text = _broken(
        "  dead_letter: {max_receive_count: 5}\n", "  dead_letter: {max_recieve_count: 5}\n"
    )
    issues = _issues(text, tmp_path)
    unknown = _only(issues, "unknown key 'max_recieve_count'")
    missing = _only(issues, "required key 'max_receive_count' is missing")
    assert unknown.line == missing.line == _line_of(text, "max_recieve_count")


def test_yaml_syntax_error_reports_the_line(tmp_path: Path) -> None:
    text = _broken("version: 1\n", "version: 1\nsystems: [unclosed\n")
    issue = _only(_issues(text, tmp_path), "not valid YAML")
    assert issue.line is not None and issue.line >= 12


def test_pii_in_logs_unmasked_is_rejected(tmp_path: Path) -> None:
    old = "treatment: {default: hash, logs: redact, crm: allow"
    text = _broken(old, "treatment: {default: hash, logs: allow, crm: allow")
    issue = _only(_issues(text, tmp_path), "would reach the logs unmasked")
    assert issue.where == "sensitivity.classes.email.treatment.logs"


def test_incident_threshold_shorter_than_expected_lag_is_rejected(tmp_path: Path) -> None:
    old = "expected_lag: 15m, incident_after: 2h}"
    text = _broken(old, "expected_lag: 15m, incident_after: 10m}")
    issue = _only(_issues(text, tmp_path), "not longer than expected_lag")
    assert issue.where == "entities.account.sync.incident_after"


def test_error_renders_as_file_line_what_and_fix(tmp_path: Path) -> None:
    text = _broken("phase: controlled_writes, writes_to: crm", "phase: live, writes_to: crm")
    path = tmp_path / "ownership.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ContractError) as exc:
        load_contract(path)
    line = _line_of(text, "phase: live")
    assert f"{path}:{line}: rollout.crm_account_enrichment.phase: unknown phase 'live'" in str(
        exc.value
    )
    assert "Fix: use one of: read_only, controlled_writes, automation." in str(exc.value)


def test_chart_of_accounts_matches_the_world_erp(world_s: Path) -> None:
    import sqlite3

    with sqlite3.connect(world_s / "erp.sqlite") as conn:
        erp = {
            n: (name, t)
            for n, name, t in conn.execute("select acctnumber, acctname, accttype from account")
        }
    for role, account in load_contract().erp.chart_of_accounts.items():
        assert erp[account.acctnumber] == (account.acctname, account.accttype), role


def test_a_currency_without_a_bank_account_fails(tmp_path: Path) -> None:
    line = next(ln for ln in SHIPPED.splitlines(keepends=True) if "bank_gbp: {acctnumber" in ln)
    issue = _only(_issues(SHIPPED.replace(line, ""), tmp_path), "no Bank account for currency gbp")
    assert "accttype: Bank" in issue.fix


def test_finance_rules_name_only_known_statuses(tmp_path: Path) -> None:
    text = _broken("dunning_statuses: [past_due, unpaid]", "dunning_statuses: [past_due, overdue]")
    issue = _only(_issues(text, tmp_path), "'overdue' is not a status dunning_statuses can name")
    assert issue.line == _line_of(text, "dunning_statuses: [past_due, overdue]")
    assert "past_due, unpaid, active" in issue.fix


def test_every_object_of_the_generated_world_is_mapped_to_one_entity(world_s: Path) -> None:
    import sqlite3

    c = load_contract()
    mapped = {
        (system, o.split("(")[0])
        for e in c.entities.values()
        for system, objs in e.objects.items()
        for o in ([objs] if isinstance(objs, str) else objs)
    }
    with sqlite3.connect(world_s / "billing.sqlite") as conn:
        billing = {r[0] for r in conn.execute("select distinct object from objects")}
    with sqlite3.connect(world_s / "erp.sqlite") as conn:
        erp = {
            r[0]
            for r in conn.execute(
                "select name from sqlite_master where type = 'table' and name <> 'meta'"
            )
        }
    with sqlite3.connect(world_s / "salesforce.sqlite") as conn:
        sf = {r[0] for r in conn.execute("select distinct sobject from records")}
    assert {("billing", o) for o in billing} <= mapped
    assert {("erp", t) for t in erp} <= mapped
    assert {o for s, o in mapped if s in ("crm", "support")} == sf


def test_automation_classes_each_need_a_write_flow_of_their_own(tmp_path: Path) -> None:
    text = _broken(
        "    rollout_flow: automation_renewal_opportunities\n",
        "    rollout_flow: automation_support_enrichment\n    thresholds: nightly\n",
    )
    problems = [i.problem for i in _issues(text, tmp_path)]
    assert any("share a rollout flow" in p for p in problems), problems
    assert any("'nightly' is not a known reconciliation threshold" in p for p in problems)
