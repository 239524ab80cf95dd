"""The PII scan: the S world through the whole pipeline with the writes on, then every place the
pipeline leaves data outside the warehouse's raw and modeled layers is searched for every PII
value of the world's truth (`tests/support/pii_scan.py`): zero hits beyond what the contract's
`sensitivity` section allows in that channel.

What is scanned, and the channel each place answers to:
- logs: every Python log record of the run (q2c's and Dagster's at DEBUG) through a plain
  handler on the root logger with no filter of its own (what the installed masking leaves is
  what a deployment's handlers write), what the run prints to stdout (dbt's lines, which
  dagster-dbt re-emits there: the compute logs), dbt's log and run files of its invocations,
  the files under DAGSTER_HOME (the SQLite run and event-log storage with every event's message
  and metadata, compute logs) and under $Q2C_HOME other than exports and reports (dbt's log and
  target files, state);
- dagster_metadata: each materialization's and check's metadata values;
- the warehouse's `ops` tables: `audit_trail` (audit), `dead_letters` (dlq), `quarantine`
  (dlq: the contract's `sensitivity.quarantine` rule), `outbox` (writeback), any other (logs);
- crm: the Salesforce stand-in's write journal (what was written, before and after);
- exports: the ERP export's journal file and manifest; reports: `q2c report`'s HTML, workbook
  and JSON.

The writes must really happen (a scan of writes that never happened proves nothing): the shipped
contract, as `make demo` runs it (the gates hold the records with open breaks, the rest goes);
the test asserts the CRM journal and the export are not empty.
One Dagster run (the rerun's idempotency is another test's), one export, one report.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import redirect_stdout
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests

from orchestration.commands.run import RunSummary, run_assets
from q2c.masking import MaskingPolicy
from q2c.policy import load_contract
from q2c.warehouse import Warehouse
from tests.support.pii_scan import PiiScanner, files_under, world_pii
from tests.support.pipeline import pipeline_against

pytestmark = pytest.mark.e2e

OPS_CHANNELS = {"audit_trail": "audit", "dead_letters": "dlq", "quarantine": "dlq",
                "outbox": "writeback"}  # fmt: skip
#: loggers recorded at DEBUG (q2c's, Dagster's, dagster-dbt's with dbt's lines); others at
#: their own level (HTTP clients' DEBUG traces carry no payloads, only slow the run)
DEBUG_LOGGERS = ("q2c", "extractors", "orchestration", "dagster", "dagster_dbt")
DBT_TARGET = Path(__file__).resolve().parents[2] / "dbt_project" / "target"
RAW_WITH_PII = ("billing__customer", "billing__account", "salesforce__account",
                "salesforce__contact", "salesforce__user")  # fmt: skip
CONTRACT = Path(__file__).resolve().parents[2] / "policy" / "ownership.yml"


def _journal(sandbox: Any) -> list[dict[str, Any]]:
    resp = requests.get(
        sandbox.control_url("salesforce") + "/__sandbox/journal",
        params={"since_seq": 0, "limit": 100000},
        verify=sandbox.env.get("Q2C_SALESFORCE_CA_BUNDLE") or True,
        timeout=30,
    )
    resp.raise_for_status()
    return resp.json()


def _metadata_texts(instance: Any, run_id: str) -> list[str]:
    out = []
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        data = event.event_specific_data
        for attr in ("materialization", "asset_check_evaluation"):
            item = getattr(data, attr, None) if attr == "materialization" else data
            meta = getattr(item, "metadata", None)
            if meta:
                out.append(json.dumps({k: str(v.value) for k, v in meta.items()}))
    return out


@pytest.fixture(scope="module")
def scanned(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from orchestration.assets.erp_export import export_day, new_run_id
    from orchestration.commands.export import latest_activity_day
    from orchestration.commands.report import write_period_report
    from q2c.settings import load_settings

    root = tmp_path_factory.mktemp("e2e-pii")
    world = root / "world"
    shutil.copytree(world_s, world)
    python_log, stdout_log = root / "python.log", root / "stdout.log"
    handler = logging.FileHandler(python_log, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    rootlog = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in DEBUG_LOGGERS}
    rootlog.addHandler(handler)
    for name in DEBUG_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    started = time.time()
    try:
        with pipeline_against(world, root) as p:
            # what the run prints (dbt's lines, re-emitted by dagster-dbt): the compute logs
            with stdout_log.open("w", encoding="utf-8") as out, redirect_stdout(out):
                summary = run_assets(p.defs, p.instance)
            settings = load_settings()
            day = latest_activity_day(settings.warehouse_url) or date.today()
            from extractors.erp import ErpCredentials
            from extractors.erp.records import RecordServiceClient

            poster = RecordServiceClient(
                ErpCredentials(settings.erp_base_url, settings.erp_token), max_in_flight=5
            )
            try:
                with Warehouse.from_url(settings.warehouse_url) as wh:
                    export = export_day(wh, poster, day, run_id=new_run_id(), settings=settings)
            finally:
                poster.close()
            report, report_paths = write_period_report()
            journal = _journal(p.sandbox)
            metadata = _metadata_texts(p.instance, summary.run_id)
            with Warehouse.from_url(settings.warehouse_url) as wh:
                ops = {
                    t: [json.dumps(r, default=str) for r in wh.fetchall(f"select * from ops.{t}")]
                    for (t,) in wh.fetchall(
                        "select table_name from information_schema.tables"
                        " where table_schema = 'ops'"
                    )
                }
                # the control: where the pipeline keeps PII on purpose, the scan must find it
                raw = [
                    str(payload)
                    for table in RAW_WITH_PII
                    for (payload,) in wh.fetchall(f"select cast(payload as text) from raw.{table}")
                ]
            home, dagster_home = settings.home, Path(p.env["DAGSTER_HOME"])
    finally:
        rootlog.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        handler.close()

    policy = MaskingPolicy.from_contract(load_contract(CONTRACT), salt=b"scan")
    scanner = PiiScanner(world_pii(world, policy), policy)
    scanner.scan_file(python_log, "logs", "python logs")
    scanner.scan_file(stdout_log, "logs", "stdout")
    for path in files_under(dagster_home):
        scanner.scan_file(path, "logs", f"DAGSTER_HOME/{path.relative_to(dagster_home)}")
    for path in files_under(home, skip=("exports", "reports")):
        scanner.scan_file(path, "logs", f"Q2C_HOME/{path.relative_to(home)}")
    # dbt's own log and run files of this run's invocations (dagster-dbt's target dirs)
    for path in files_under(DBT_TARGET):
        if path.stat().st_mtime >= started and path.suffix in (".log", ".json"):
            scanner.scan_file(path, "logs", f"dbt target/{path.relative_to(DBT_TARGET)}")
    for path in files_under(home / "exports"):
        scanner.scan_file(path, "exports", f"exports/{path.relative_to(home / 'exports')}")
    for kind, path in report_paths.items():
        scanner.scan_file(path, "reports", f"report ({kind})")
    for text in metadata:
        scanner.scan("dagster metadata", "dagster_metadata", text)
    for table, rows in ops.items():
        scanner.scan(f"ops.{table}", OPS_CHANNELS.get(table, "logs"), "\n".join(rows))
    scanner.scan("CRM write journal", "crm", json.dumps(journal))
    control = PiiScanner(scanner.values, policy)
    control.scan("raw", "logs", "\n".join(raw))
    yield {"summary": summary, "export": export, "journal": journal, "scanner": scanner,
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
    assert {"python logs", "dagster metadata", "ops.audit_trail", "CRM write journal"} <= places
    assert any(p.startswith("DAGSTER_HOME/") and "history" in p for p in places), places
    assert any(p.startswith("exports/") for p in places), places
    assert any(p.startswith("report") for p in places), places
    assert scanner.scanned["python logs"] > 10_000  # the run logged at DEBUG
    assert scanner.scanned["stdout"] > 10_000  # dbt's lines
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
