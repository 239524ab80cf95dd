"""The CRM write-back SIGKILLed after Salesforce accepted the writes and before the outbox
recorded them: the rerun reconciles from Salesforce and writes nothing twice (the stand-in's
write journal is the judge). The integration suite's helpers drive the engine the same way
(tests/integration/test_writeback_salesforce.py); only the kill is real here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from extractors.salesforce.writer import SalesforceWriter
from q2c.warehouse import Warehouse
from q2c.writeback.store import open_rows
from sandbox.salesforce.serve import Served
from tests.integration.test_writeback_salesforce import (  # noqa: F401 (fixtures)
    account_rows,
    http,
    journal,
    last_seq,
    run,
    served,
    world,
    writer,
)
from tests.support.reliability import Recorder

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

ROOT = Path(__file__).resolve().parents[2]
ACCOUNTS = range(40, 52)

KILLED = """
import os, signal, sys
from types import SimpleNamespace
from extractors.salesforce.writer import SalesforceWriter
from q2c.warehouse import Warehouse
from tests.integration.test_writeback_salesforce import account_rows, client, run

base_url, ca_file, url, home, first, last = sys.argv[1:7]
inner = SalesforceWriter(client(SimpleNamespace(base_url=base_url, ca_file=ca_file)), poll_max=0.05)


class KilledAfterSend:
    def __init__(self):
        self.stats = inner.stats

    def __getattr__(self, name):
        return getattr(inner, name)

    def write(self, *args, **kw):
        inner.write(*args, **kw)
        os.kill(os.getpid(), signal.SIGKILL)  # Salesforce has the writes; nothing is recorded


with Warehouse.from_url(url) as wh:
    run(account_rows(range(int(first), int(last)), mrr="777.77"), wh, KilledAfterSend(),
        __import__("pathlib").Path(home), "killed")
"""


def test_sigkill_in_the_write_back_after_send_before_record_then_nothing_written_twice(
    served: Served,  # noqa: F811
    http: requests.Session,  # noqa: F811
    writer: SalesforceWriter,  # noqa: F811
    reliability: Recorder,
    tmp_path: Path,
) -> None:
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    before = last_seq(http, served)
    args = [
        served.base_url,
        served.ca_file,
        url,
        str(tmp_path),
        str(ACCOUNTS[0]),
        str(ACCOUNTS[-1] + 1),
    ]
    child = subprocess.run(
        [sys.executable, "-c", KILLED, *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), "Q2C_HOME": str(tmp_path)},
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    reliability.crash("sigkill_writeback_after_send")
    sent = journal(http, served, before, sobject="Account")
    assert len({j["record_id"] for j in sent}) == len(ACCOUNTS)  # Salesforce has them all
    with Warehouse.from_url(url) as wh:
        assert len(open_rows(wh, "crm_account_enrichment", ["in_flight"])) == len(ACCOUNTS)
        report = run(account_rows(ACCOUNTS, mrr="777.77"), wh, writer, tmp_path, "rerun")
        assert open_rows(wh, "crm_account_enrichment", ["in_flight", "pending"]) == []
    assert report.reconciled == len(ACCOUNTS) and report.sent == 0
    writes = journal(http, served, before, sobject="Account")
    assert reliability.writes(j["record_id"] for j in writes) == 0
