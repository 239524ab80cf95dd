"""A Salesforce extract killed with SIGKILL mid-landing, then rerun, ends with the world's data.

The extract runs in a child process against the stand-in slowed down (so it is surely in the
middle of its pages), is killed with SIGKILL, and the rerun in this process must land exactly
what is missing: the latest version per Id equals the world, and no `(Id, payload hash)` is
stored twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from q2c.landing import get_cursor
from q2c.warehouse import Warehouse

# `sf` is the fixture of the Salesforce extract tests (a small world served by the stand-in)
from tests.integration.test_extract_salesforce import OBJECTS, mismatches, run_all, sf  # noqa: F401

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import json, sys
from extractors.salesforce import SalesforceClient, SalesforceCredentials, SalesforceExtractor
from q2c.warehouse import Warehouse
env, url = json.loads(sys.argv[1]), sys.argv[2]
client = SalesforceClient(SalesforceCredentials(
    env["Q2C_SALESFORCE_LOGIN_URL"], env["Q2C_SALESFORCE_CLIENT_ID"],
    env["Q2C_SALESFORCE_CLIENT_SECRET"], env["Q2C_SALESFORCE_USERNAME"],
    env["Q2C_SALESFORCE_PASSWORD"], env["Q2C_SALESFORCE_CA_BUNDLE"]))
with Warehouse.from_url(url) as wh:
    ex = SalesforceExtractor(client, wh, run_id="killed", rest_batch_size=200)
    for sobject in ["Account", "Contact", "Opportunity", "Case", "User"]:
        ex.extract(sobject)
        print("landed", sobject, flush=True)
"""


def test_a_run_killed_mid_landing_then_rerun_equals_the_world(sf, tmp_path):  # noqa: F811
    sandbox, world = sf
    url = f"duckdb:///{tmp_path}/w.duckdb"
    sandbox.set_faults("salesforce", {"slow": {"rate": 1.0, "seconds": 0.25}})
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(sandbox.env), url],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()  # Account landed: now inside Contact's pages
        assert line.startswith("landed Account"), line
        time.sleep(0.6)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    sandbox.set_faults("salesforce", {"slow": None})
    with Warehouse.from_url(url) as wh:
        assert get_cursor(wh, "salesforce", "opportunity") is None  # it never got that far
        rerun = run_all(sandbox, wh, "rerun")
        assert rerun["Account"].landed == 0  # finished before the kill: nothing to redo
        for o in OBJECTS:
            assert mismatches(wh, world, o) == [], o
            (dupes,) = wh.fetchone(
                f"select count(*) - count(distinct (object_id, payload_hash))"
                f" from raw.salesforce__{o.lower()}"
            )
            assert dupes == 0, o
