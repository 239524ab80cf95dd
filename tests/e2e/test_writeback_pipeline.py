"""The CRM write-back inside the whole pipeline, through Dagster, against the sandbox: the gates
decide on the real sync models; what reaches the Salesforce stand-in (its journal is the judge)
is only what a passed gate allows (at S both gates pass: the sandbox contract runs both flows in
controlled_writes, and the world's breaks hold only their own records) and only write-set
fields; the next run writes nothing; no PII value of the world appears in what the write-back
leaves behind (audit trail, outbox, dead letters, gate decisions, the runs' event logs and
metadata).

A copy of the session's S world; the code location's own definitions; two runs.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from orchestration.commands.run import RunSummary
from q2c.warehouse import Warehouse
from tests.support.pipeline import private_copy

pytestmark = pytest.mark.e2e

WRITE_SET = {
    "Account": {"MRR__c", "ARR__c", "Billing_Status__c", "Last_Payment_Date__c",
                "Payout_Hold_Reason__c"},
    "Case": {"Billing_Priority_Flag__c"},
}  # fmt: skip
STAMPS = {"SystemModstamp", "LastModifiedDate", "LastModifiedById"}


@pytest.fixture(scope="module")
def pipeline(
    s_pipeline_runs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Two full runs over one world (the session's shared pair, `s_pipeline_runs`): their
    summaries, the Salesforce journal of each run, their logs, the warehouse and the world."""
    return private_copy(s_pipeline_runs, tmp_path_factory.mktemp("e2e-writeback"))


def _failures(summary: RunSummary) -> str:
    return "; ".join(f"{f['step']}: {f['error']}" for f in summary.failed_steps)


def _open(warehouse: Path) -> Warehouse:
    # the same configuration as the pipeline's connections: DuckDB refuses a second connection
    # of one process to a file with another configuration (read_only, memory limit)
    return Warehouse.from_url(f"duckdb:///{warehouse}")


def _decisions(warehouse: Path) -> dict[str, list[tuple[bool, str]]]:
    with _open(warehouse) as wh:
        rows = wh.fetchall(
            "select flow, passed, reasons from ops.gate_decisions where flow like 'crm_%'"
            " order by decided_at"
        )
    out: dict[str, list[tuple[bool, str]]] = {}
    for flow, passed, reasons in rows:
        out.setdefault(flow, []).append((bool(passed), str(reasons)))
    return out


def test_the_write_back_never_fails_a_step_and_writes_only_what_a_passed_gate_allows(
    pipeline: dict[str, Any],
) -> None:
    first: RunSummary = pipeline["first"]
    assert not [f for f in first.failed_steps if "writeback" in f["step"]], _failures(first)
    decisions = _decisions(pipeline["warehouse"])
    assert set(decisions) == {"crm_account_sync", "crm_case_sync"}, decisions
    written = pipeline["journal_first"]
    for sobject, flow in (("Account", "crm_account_sync"), ("Case", "crm_case_sync")):
        mine = [j for j in written if j["sobject"] == sobject]
        # the S world's injected breaks hold only the records they concern: the sandbox
        # contract's controlled_writes phase writes the rest to the stand-in
        assert all(passed for passed, _ in decisions[flow]), (flow, decisions[flow])
        assert mine, f"{flow}: the gate passed but nothing was written"
        for j in mine:
            changed = {k for k, v in j["after"].items() if (j["before"] or {}).get(k) != v}
            assert changed <= WRITE_SET[sobject] | STAMPS, (sobject, changed)
    assert len({j["user_id"] for j in written}) <= 1  # only the integration user writes
    with _open(pipeline["warehouse"]) as wh:
        # the audit trail exists once a write-back step ran (blocking gates may stop them all)
        ran = wh.table_exists("ops", "audit_trail")
        n_written = wh.fetchall(
            "select count(*) from ops.audit_trail where action = 'written' and result = 'ok'"
        )[0][0] if ran else 0  # fmt: skip
    assert n_written == len(written)


def test_the_second_run_writes_nothing(pipeline: dict[str, Any]) -> None:
    second: RunSummary = pipeline["second"]
    assert not [f for f in second.failed_steps if "writeback" in f["step"]], _failures(second)
    assert pipeline["journal_second"] == []


def test_no_pii_value_of_the_world_in_the_write_backs_traces(pipeline: dict[str, Any]) -> None:
    with sqlite3.connect(pipeline["world"] / "truth.sqlite") as conn:
        pii = {v for (v,) in conn.execute("select value from pii where length(value) >= 6")}
    assert len(pii) > 500
    texts: list[str] = list(pipeline["logs"])
    with _open(pipeline["warehouse"]) as wh:
        for table in ("audit_trail", "outbox", "dead_letters", "gate_decisions"):
            if not wh.table_exists("ops", table):
                continue
            for row in wh.fetchall(f"select * from ops.{table}"):
                texts.append(json.dumps(row, default=str))
    blob = "\n".join(texts)
    leaks = sorted(v for v in pii if v in blob)
    assert not leaks, leaks[:10]
