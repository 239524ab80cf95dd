"""Crashes: a process SIGKILLed during the extract (between HTTP requests), inside a landing
transaction, during `dbt build`, in the ERP export and in the CRM write-back after the send and
before the record; each rerun converges to the uninterrupted result (same tables, same cursors,
each write in the stand-ins' journals once). Two runs started at once: neither corrupts.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from q2c.warehouse import Warehouse
from sandbox.services import start_services
from tests.e2e.test_pipeline_end_to_end import _modeled_table_digests
from tests.integration import test_erp_export as erp_export
from tests.integration.test_extract_billing import run_billing, table_fingerprint
from tests.reliability.conftest import Faults
from tests.support.raw_from_world import dbt_env, load_raw_from_world, run_dbt
from tests.support.reliability import Recorder

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

ROOT = Path(__file__).resolve().parents[2]
OBJECTS = ("event", "customer", "invoice", "charge")
DBT_BUILD = ["build", "--exclude-resource-type", "test", "unit_test"]

#: A billing extract in a child process; argv: env JSON, warehouse URL, run id, objects JSON,
#: and the landing transaction to die in (0: none; the parent may kill it from outside).
CHILD = """
import json, os, signal, sys
from q2c.warehouse import Warehouse
from tests.integration.test_extract_billing import run_billing

env, url, run_id, objects, die_in = sys.argv[1:6]
commits = 0
real_commit = Warehouse._commit


def commit_then_die(self):
    global commits
    commits += 1
    if commits == int(die_in):  # inside a landing transaction: rows written, no COMMIT
        os.kill(os.getpid(), signal.SIGKILL)
    real_commit(self)


Warehouse._commit = commit_then_die
results = run_billing(json.loads(env), url, run_id, objects=tuple(json.loads(objects)))
print(sum(r.landed for r in results))
"""


def child(env: dict[str, str], url: str, run_id: str, die_in: int = 0) -> subprocess.Popen:
    args = [json.dumps(env), url, run_id, json.dumps(OBJECTS), str(die_in)]
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.fixture(scope="module")
def clean(stand_ins_xs: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The uninterrupted result: tables and cursors of one clean billing extract."""
    url = f"duckdb:///{tmp_path_factory.mktemp('clean') / 'clean.duckdb'}"
    run_billing(stand_ins_xs.env, url, "clean", objects=OBJECTS)
    with Warehouse.from_url(url) as wh:
        return {
            "tables": table_fingerprint(wh),
            "cursors": wh.fetchall("select object, cursor from ops.cursors order by 1"),
        }


def converges(url: str, clean: dict[str, Any], reliability: Recorder) -> None:
    with Warehouse.from_url(url) as wh:
        got = table_fingerprint(wh)
        cursors = wh.fetchall("select object, cursor from ops.cursors order by 1")
    for table, rows in clean["tables"].items():
        assert reliability.rows(dict.fromkeys(rows, 1), dict.fromkeys(got.get(table, ()), 1)) == 0
    assert got == clean["tables"] and cursors == clean["cursors"]


def test_sigkill_during_the_extract_then_the_rerun_converges(
    stand_ins_xs: Any, clean: dict[str, Any], reliability: Recorder, tmp_path: Path
) -> None:
    url = f"duckdb:///{tmp_path / 'killed.duckdb'}"
    faults = Faults(stand_ins_xs)
    faults.on("billing", {"slow": {"delay_ms": 20}})  # room to land between two requests
    try:
        served = httpx.get(stand_ins_xs.control_url("billing") + "/__sandbox/stats").json()
        proc = child(stand_ins_xs.env, url, "killed")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            now = httpx.get(stand_ins_xs.control_url("billing") + "/__sandbox/stats").json()
            if now["requests"] - served["requests"] >= 8:  # mid-listing (about 18 requests in all)
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
        assert proc.wait(60) == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    finally:
        faults.off()
    reliability.crash("sigkill_during_extract")
    run_billing(stand_ins_xs.env, url, "rerun", objects=OBJECTS)
    converges(url, clean, reliability)


def test_sigkill_inside_a_landing_transaction_then_the_rerun_converges(
    stand_ins_xs: Any, clean: dict[str, Any], reliability: Recorder, tmp_path: Path
) -> None:
    url = f"duckdb:///{tmp_path / 'killed.duckdb'}"
    proc = child(stand_ins_xs.env, url, "killed", die_in=4)
    assert proc.wait(120) == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    with Warehouse.from_url(url) as wh:
        partial = sum(len(rows) for rows in table_fingerprint(wh).values())
    assert 0 < partial < sum(len(rows) for rows in clean["tables"].values())
    reliability.crash("sigkill_inside_landing")
    run_billing(stand_ins_xs.env, url, "rerun", objects=OBJECTS)
    converges(url, clean, reliability)


def test_two_runs_started_at_once_neither_corrupts_and_one_lands_everything(
    stand_ins_xs: Any, clean: dict[str, Any], reliability: Recorder, tmp_path: Path
) -> None:
    url = f"duckdb:///{tmp_path / 'both.duckdb'}"
    procs = [child(stand_ins_xs.env, url, f"run-{i}") for i in (1, 2)]
    outcomes = [(p.wait(180), p.stdout.read().decode(), p.stderr.read().decode()) for p in procs]
    ok = [o for o in outcomes if o[0] == 0]
    refused = [o for o in outcomes if o[0] != 0]
    assert ok, outcomes  # at least one finished
    for _, _, err in refused:  # the other stopped at the warehouse's lock, said so, wrote nothing
        assert "lock" in err.lower(), err[-2000:]
    reliability.crash("two_runs_at_once")
    # whatever each did, the tables are the clean run's and a rerun adds nothing
    after = run_billing(stand_ins_xs.env, url, "after", objects=OBJECTS)
    assert sum(r.landed for r in after) == 0
    converges(url, clean, reliability)


def test_the_warehouse_disk_full_during_landing_fails_loudly_and_the_rerun_converges(
    stand_ins_xs: Any, clean: dict[str, Any], reliability: Recorder, tmp_path: Path
) -> None:
    """A file-size limit (RLIMIT_FSIZE) makes the warehouse's writes fail (EFBIG) mid-landing."""
    import resource

    url = f"duckdb:///{tmp_path / 'full.duckdb'}"

    def disk_of_two_megabytes() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, 2 << 20))

    args = [json.dumps(stand_ins_xs.env), url, "full", json.dumps(OBJECTS), "0"]
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        cwd=ROOT,
        capture_output=True,
        timeout=180,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        preexec_fn=disk_of_two_megabytes,
    )
    err = proc.stderr.decode()
    assert proc.returncode not in (0, -signal.SIGKILL), err[-2000:]
    assert "File too large" in err or "IO Error" in err, err[-2000:]
    reliability.fault("warehouse_disk_full", 1)
    run_billing(stand_ins_xs.env, url, "rerun", objects=OBJECTS)
    converges(url, clean, reliability)


# -- dbt build, the ERP export and the CRM write-back ------------------------------------------


@pytest.fixture(scope="module")
def built_xs(world_xs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The XS world landed (raw only, kept as a copy) and built by dbt, with the ERP stand-in
    over a private copy of the world (the export writes to it)."""
    root = tmp_path_factory.mktemp("built_xs")
    world = root / "world"
    shutil.copytree(world_xs, world)
    raw = root / "landed.duckdb"  # not raw.duckdb: a catalog named raw hides the schema
    load_raw_from_world(world, f"duckdb:///{raw}")
    built = root / "warehouse.duckdb"
    shutil.copy(raw, built)
    run_dbt(DBT_BUILD, f"duckdb:///{built}", root / "dbt")
    digests = _modeled_table_digests(built)
    with start_services(world, None, root / "state", services=("erp",)) as sandbox:
        yield {"root": root, "world": world, "raw": raw, "built": built, "digests": digests,
               "sandbox": sandbox}  # fmt: skip


def test_sigkill_during_dbt_build_then_the_rerun_converges(
    built_xs: dict, reliability: Recorder, tmp_path: Path
) -> None:
    killed = tmp_path / "killed.duckdb"
    shutil.copy(built_xs["raw"], killed)
    url = f"duckdb:///{killed}"
    dbt = Path(sys.executable).with_name("dbt")
    log = tmp_path / "dbt" / "logs" / "dbt.log"
    cmd = [str(dbt), *DBT_BUILD, "--project-dir", str(ROOT / "dbt_project"), "--profiles-dir",
           str(ROOT / "dbt_project"), "--target-path", str(tmp_path / "dbt" / "target"),
           "--log-path", str(log.parent)]  # fmt: skip
    proc = subprocess.Popen(
        cmd, env=dbt_env(url), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 300
    built = 0
    while time.monotonic() < deadline and proc.poll() is None:
        built = log.read_text().count(" OK created ") if log.exists() else 0
        if built >= 15:  # some models built, most not
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    assert proc.wait(60) == -signal.SIGKILL, f"dbt ended before the kill ({built} models)"
    reliability.crash("sigkill_during_dbt_build")
    run_dbt(DBT_BUILD, url, tmp_path / "dbt")
    got = _modeled_table_digests(killed)
    expected = built_xs["digests"]
    assert reliability.rows(expected, got) == 0, sorted(
        k for k in expected if got.get(k) != expected[k]
    )
    assert got == expected


def test_sigkill_in_the_erp_export_after_send_before_record_then_nothing_posted_twice(
    built_xs: dict, reliability: Recorder
) -> None:
    env = erp_export.Env(
        built_xs["world"], f"duckdb:///{built_xs['built']}", built_xs["sandbox"], built_xs["root"]
    )
    # the integration test's own steps, on the XS world: killed child, then the rerun heals
    erp_export.test_killed_after_send_before_record_then_rerun_posts_nothing_twice(env)
    reliability.crash("sigkill_erp_export_after_send")
    created = [r["external_id"] for r in env.journal() if r["operation"] == "created"]
    assert created and reliability.writes(created) == 0


def test_an_erp_import_refusal_is_ledgered_not_resent_and_posted_once_its_cause_changed(
    built_xs: dict, reliability: Recorder
) -> None:
    env = erp_export.Env(
        built_xs["world"], f"duckdb:///{built_xs['built']}", built_xs["sandbox"], built_xs["root"]
    )
    before = len(env.journal())
    erp_export.test_rejected_entry_is_ledgered_with_the_erps_error_and_retried_once_its_cause_changed(
        env
    )
    with Warehouse.from_url(env.url) as wh:
        (rejected,) = wh.fetchone(
            "select count(*) from ops.export_ledger where status = 'rejected'"
        )
    reliability.fault("erp_import_refused", rejected)
    created = [r["external_id"] for r in env.journal() if r["operation"] == "created"]
    assert len(env.journal()) > before and reliability.writes(created) == 0


# -- bad input at the ERP: a CSV it refuses ----------------------------------------------------


def import_csv(sandbox: Any, body: bytes) -> httpx.Response:
    return httpx.post(
        sandbox.env["Q2C_ERP_BASE_URL"] + "/services/rest/q2c/v1/journal-import",
        content=body,
        headers={
            "Authorization": f"Bearer {sandbox.env['Q2C_ERP_TOKEN']}",
            "Content-Type": "text/csv",
        },
        timeout=120,
    )


def journals(world: Path) -> list[str]:
    import sqlite3

    con = sqlite3.connect(world / "erp.sqlite")
    try:
        return [
            e
            for (e,) in con.execute("select externalid from \"transaction\" where type = 'Journal'")
        ]
    finally:
        con.close()


def test_a_csv_the_erp_refuses_posts_nothing_and_says_why(
    built_xs: dict, reliability: Recorder
) -> None:
    """q2c's own export file (written by the export tests above), spoiled two ways."""
    import csv
    import io

    files = sorted((built_xs["root"] / "exports").rglob("journal_lines.csv"))
    assert files, "no export file was written"
    rows = list(csv.DictReader(io.StringIO(files[-1].read_text())))
    columns = list(rows[0])

    def render(header: list[str], lines: list[dict[str, str]]) -> bytes:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([line[c] for c in columns] for line in lines)
        return buf.getvalue().encode()

    before = journals(built_xs["world"])
    # a header the import does not know: the whole file refused, nothing posted
    header = ["acct" if c == "account" else c for c in columns]
    refused = import_csv(built_xs["sandbox"], render(header, rows))
    assert refused.status_code == 400, refused.text
    assert journals(built_xs["world"]) == before
    reliability.bad_input("erp_csv_unknown_column", refused.text[:200])
    # one entry with an account the ERP does not have: that entry rejected, none posted twice
    first = rows[0]["external_id"]
    spoiled = [{**r, "account": "9999"} if r["external_id"] == first else r for r in rows]
    answer = import_csv(built_xs["sandbox"], render(columns, spoiled))
    assert answer.status_code == 200, answer.text
    rejected = [line for line in answer.json()["lines"] if line["externalId"] == first]
    assert rejected and all(line["status"] == "rejected" and line["errors"] for line in rejected)
    assert first not in set(journals(built_xs["world"])) - set(before)
    reliability.bad_input("erp_csv_unknown_account", rejected[0]["errors"][0]["detail"])
    assert reliability.writes(journals(built_xs["world"])) == 0
