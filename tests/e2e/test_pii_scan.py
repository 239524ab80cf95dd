"""The PII scan: the S world through the whole pipeline with the writes on, then every place the
pipeline leaves data outside the warehouse's raw and modeled layers is searched for every PII
value of the world's truth (`tests/support/pii_scan.py`): zero hits beyond what the contract's
`sensitivity` section allows in that channel.

What is scanned, and the channel each place answers to:
- logs: every Python log record of the runs (q2c's and Dagster's at DEBUG) through a plain
  handler on the root logger with no filter of its own (what the installed masking leaves is
  what a deployment's handlers write), what the runs print to stdout (dbt's lines, which
  dagster-dbt re-emits there: the compute logs), dbt's log and run files of their invocations,
  the files under DAGSTER_HOME (the SQLite run and event-log storage with every event's message
  and metadata, compute logs) and under $Q2C_HOME other than exports and reports (dbt's log and
  target files, state);
- dagster_metadata: every event of the runs, each materialization's and check's metadata;
- the warehouse's `ops` tables: `audit_trail` (audit), `dead_letters` (dlq), `quarantine`
  (dlq: the contract's `sensitivity.quarantine` rule), `outbox` (writeback), any other (logs);
- crm: the Salesforce stand-in's write journal (what was written, before and after);
- exports: the ERP export's journal file and manifest; reports: `q2c report`'s HTML, workbook
  and JSON.

The writes must really happen (a scan of writes that never happened proves nothing): the shipped
contract, as `make demo` runs it (the gates hold the records with open breaks, the rest goes);
the test asserts the CRM journal and the export are not empty.

No run of its own: the session's two whole-pipeline runs over the S world (`s_pipeline_runs`,
shared with the other e2e tests, which record their logs and output for this scan), then the
day's ERP export and `q2c report` on a private copy of their warehouse and world.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from extractors.erp import ErpCredentials
from extractors.erp.records import RecordServiceClient
from orchestration.commands.run import RunSummary
from q2c.masking import MaskingPolicy
from q2c.policy import load_contract
from q2c.warehouse import Warehouse
from tests.support.pii_scan import PiiScanner, files_under, world_pii
from tests.support.pipeline import private_copy

pytestmark = pytest.mark.e2e

OPS_CHANNELS = {"audit_trail": "audit", "dead_letters": "dlq", "quarantine": "dlq",
                "outbox": "writeback"}  # fmt: skip
DBT_TARGET = Path(__file__).resolve().parents[2] / "dbt_project" / "target"
RAW_WITH_PII = ("billing__customer", "billing__account", "salesforce__account",
                "salesforce__contact", "salesforce__user")  # fmt: skip
CONTRACT = Path(__file__).resolve().parents[2] / "policy" / "ownership.yml"


@pytest.fixture(scope="module")
def scanned(
    s_pipeline_runs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    from orchestration.assets.erp_export import export_day, new_run_id
    from orchestration.commands.export import latest_activity_day
    from orchestration.commands.report import write_period_report
    from q2c.settings import load_settings
    from sandbox.services import start_services

    runs = s_pipeline_runs
    shared = Path(runs["world"]).parent  # the shared runs' root: dagster/, home/, their output
    summaries: list[RunSummary] = [runs["first"], runs["second"]]
    root = tmp_path_factory.mktemp("e2e-pii")
    mine = private_copy(runs, root / "copy")
    world = root / "world"
    shutil.copytree(runs["world"], world)
    # the day's ERP export and the report, on a private copy, through the stand-ins again
    with (
        start_services(world, None, root / "sandbox") as sandbox,
        pytest.MonkeyPatch.context() as mp,
    ):
        env = {**sandbox.env, "Q2C_HOME": str(root / "home"),
               "Q2C_WAREHOUSE_URL": f"duckdb:///{mine['warehouse']}"}  # fmt: skip
        for key, value in env.items():
            mp.setenv(key, value)
        settings = load_settings()
        day = latest_activity_day(settings.warehouse_url) or date.today()
        poster = RecordServiceClient(
            ErpCredentials(settings.erp_base_url, settings.erp_token), max_in_flight=5
        )
        try:
            with Warehouse.from_url(settings.warehouse_url) as wh:
                export = export_day(wh, poster, day, run_id=new_run_id(), settings=settings)
        finally:
            poster.close()
        _, report_paths = write_period_report()
        with Warehouse.from_url(settings.warehouse_url) as wh:
            ops = {
                t: [json.dumps(r, default=str) for r in wh.fetchall(f"select * from ops.{t}")]
                for (t,) in wh.fetchall(
                    "select table_name from information_schema.tables where table_schema = 'ops'"
                )
            }
            # the control: where the pipeline keeps PII on purpose, the scan must find it
            raw = [
                str(payload)
                for table in RAW_WITH_PII
                for (payload,) in wh.fetchall(f"select cast(payload as text) from raw.{table}")
            ]
    journal = [*runs["journal_first"], *runs["journal_second"]]

    policy = MaskingPolicy.from_contract(load_contract(CONTRACT), salt=b"scan")
    scanner = PiiScanner(world_pii(world, policy), policy)
    for name in ("python.log", "stdout.log"):  # tests.support.pipeline.recorded_output
        scanner.scan_file(shared / name, "logs", name)
    for base, label in ((shared / "dagster", "DAGSTER_HOME"), (shared / "home", "Q2C_HOME"),
                        (root / "home", "Q2C_HOME")):  # fmt: skip
        for path in files_under(base, skip=("exports", "reports")):
            scanner.scan_file(path, "logs", f"{label}/{path.relative_to(base)}")
    # dbt's own log and run files of the runs' invocations (dagster-dbt's target dirs)
    for summary in summaries:
        for run_dir in DBT_TARGET.glob(f"*-{summary.run_id[:7]}-*"):
            for path in files_under(run_dir):
                if path.suffix in (".log", ".json"):
                    scanner.scan_file(path, "logs", f"dbt target/{path.relative_to(DBT_TARGET)}")
    for path in files_under(root / "home" / "exports"):
        scanner.scan_file(path, "exports", f"exports/{path.name}")
    for kind, path in report_paths.items():
        scanner.scan_file(path, "reports", f"report ({kind})")
    # every event of both runs: messages, materialization and check metadata
    scanner.scan("dagster events and metadata", "dagster_metadata", "\n".join(runs["logs"]))
    for table, rows in ops.items():
        scanner.scan(f"ops.{table}", OPS_CHANNELS.get(table, "logs"), "\n".join(rows))
    scanner.scan("CRM write journal", "crm", json.dumps(journal))
    control = PiiScanner(scanner.values, policy)
    control.scan("raw", "logs", "\n".join(raw))
    yield {"summary": summaries[0], "export": export, "journal": journal, "scanner": scanner,
           "ops": ops, "report": report_paths, "control": control}  # fmt: skip


def test_the_writes_really_happened(scanned: dict[str, Any]) -> None:
    summary: RunSummary = scanned["summary"]
    assert summary.assets, summary.failed_steps
    # the write-back's own steps (its queue checks are another test's)
    writes = [f for f in summary.failed_steps if re.fullmatch(r"writeback__\w+_sync", f["step"])]
    assert not writes, writes
    assert scanned["journal"], "nothing reached the CRM: the scan would prove nothing"
    export = scanned["export"]
    assert export.status not in ("refused",), export.reasons
    assert export.files, "the ERP export wrote no file"


def test_every_place_was_scanned(scanned: dict[str, Any]) -> None:
    scanner: PiiScanner = scanned["scanner"]
    assert len(scanner.values) > 1000
    places = set(scanner.scanned)
    assert {"python.log", "dagster events and metadata", "ops.audit_trail",
            "CRM write journal"} <= places  # fmt: skip
    assert any(p.startswith("DAGSTER_HOME/") and "history" in p for p in places), places
    assert any(p.startswith("exports/") for p in places), places
    assert any(p.startswith("report") for p in places), places
    assert scanner.scanned["python.log"] > 10_000  # the runs logged at DEBUG
    assert scanner.scanned["stdout.log"] > 10_000  # dbt's lines
    assert any(p.startswith("dbt target/") and p.endswith("dbt.log") for p in places), places


def test_the_scan_finds_the_worlds_pii_where_the_pipeline_keeps_it(scanned: dict[str, Any]) -> None:
    """The raw layer holds the landed records whole: nearly every value is found there (a
    scan that finds nothing anywhere would pass the test below without proving anything)."""
    control: PiiScanner = scanned["control"]
    searched = len(control.values) - control.skipped
    found = {h.value for h in control.hits}
    assert len(found) >= 0.9 * searched, (len(found), searched)


def test_no_pii_value_where_the_contract_does_not_allow_it(scanned: dict[str, Any]) -> None:
    scanner: PiiScanner = scanned["scanner"]
    assert not scanner.hits, scanner.report()
