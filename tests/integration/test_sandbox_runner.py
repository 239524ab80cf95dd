"""The runner: `q2c sandbox up/status/faults/down` as a user runs them, and `start_services`."""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from orchestration.cli import app as cli_app
from sandbox.erp.faults import DEFAULTS
from sandbox.faults import PROFILES, profile
from sandbox.services import start_services
from tests.support.sandbox import build_tiny_erp_world

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ENV_KEYS_ERP = {"Q2C_ERP_BASE_URL", "Q2C_ERP_TOKEN", "Q2C_VIES_URL"}
ENV_KEYS_ALL = ENV_KEYS_ERP | {
    "Q2C_BILLING_API_BASE",
    "Q2C_BILLING_API_KEY",
    "Q2C_SALESFORCE_LOGIN_URL",
    "Q2C_SALESFORCE_CLIENT_ID",
    "Q2C_SALESFORCE_CLIENT_SECRET",
    "Q2C_SALESFORCE_USERNAME",
    "Q2C_SALESFORCE_PASSWORD",
    "Q2C_SALESFORCE_CA_BUNDLE",
    "Q2C_NOTIFY_WEBHOOK_URL",
}


def q2c(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "sandbox", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=180,
    )
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def q2c_in_process(*args: str) -> Result:
    """The same command through typer's runner, in this process (no interpreter start-up)."""
    return CliRunner().invoke(cli_app, ["sandbox", *args])


def truth_count(world: Path, table: str) -> int:
    with sqlite3.connect(world / "truth.sqlite") as conn:
        sql = "SELECT n FROM counts WHERE system = 'erp' AND object = ?"
        return conn.execute(sql, (table,)).fetchone()[0]


def erp_transactions(env: dict[str, str]) -> int:
    return suiteql(env, "SELECT id FROM transaction").json()["totalResults"]


def processes_in_group(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is `pgid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def port_open(url: str) -> bool:
    host, port = url.split("//")[1].split(":")
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, int(port.split("/")[0]))) == 0


def suiteql(env: dict[str, str], q: str) -> httpx.Response:
    return httpx.post(
        env["Q2C_ERP_BASE_URL"] + "/services/rest/query/v1/suiteql",
        json={"q": q},
        headers={"Authorization": f"Bearer {env['Q2C_ERP_TOKEN']}", "Prefer": "transient"},
    )


def test_cli_up_with_an_unknown_profile_exits_2_and_starts_nothing(tmp_path: Path) -> None:
    root = tmp_path / "sb"
    build_tiny_erp_world(root / "world")
    bad = q2c_in_process("up", "--dir", str(root), "--services", "erp", "--faults", "stormy")
    assert bad.exit_code == 2 and "known profiles" in bad.output
    assert not (root / "state.json").exists()


def test_start_services_context_manager_stops_every_server(tmp_path: Path) -> None:
    world = build_tiny_erp_world(tmp_path / "world", invoices=3)
    threads_before = set(threading.enumerate())
    with start_services(world, None, tmp_path / "state", services=("erp",)) as sandbox:
        url = sandbox.env["Q2C_ERP_BASE_URL"]
        assert port_open(url)
        assert sandbox.env["Q2C_VIES_URL"] == url + "/vies"
    assert not port_open(url)
    leftover = set(threading.enumerate()) - threads_before
    assert not [t for t in leftover if t.name.startswith("sandbox-")]


def test_start_services_refuses_unknown_services_and_fault_keys(tmp_path: Path) -> None:
    world = build_tiny_erp_world(tmp_path / "world", invoices=3)
    with pytest.raises(ValueError, match="unknown services"):
        start_services(world, None, tmp_path / "s", services=("crm",))
    with pytest.raises(ValueError, match="unknown services"):
        start_services(world, {"crm": {}}, tmp_path / "s", services=("erp",))
    with pytest.raises(ValueError, match="unknown ERP fault"):
        start_services(world, {"erp": {"meteor": 1}}, tmp_path / "s", services=("erp",))


def test_every_profile_is_accepted_by_every_stand_in() -> None:
    from sandbox.billing.faults import Faults as BillingFaults
    from sandbox.erp.faults import FaultState
    from sandbox.salesforce.faults import Faults as SalesforceFaults

    for name in PROFILES:
        p = profile(name)
        BillingFaults(p["billing"])
        SalesforceFaults(p["salesforce"])
        FaultState(p["erp"])
    with pytest.raises(KeyError, match="known: none, flaky, hostile"):
        profile("stormy")


def test_flaky_profile_switches_on_every_erp_fault() -> None:
    erp = profile("flaky")["erp"]
    # `seed` and the service's `concurrency_limit` (NetSuite's governance, on by default) are
    # settings, not faults a profile switches on
    settings = {"seed", "concurrency_limit"}
    assert all(erp[name] for name in DEFAULTS if name not in settings)


def answers(env: dict[str, str]) -> dict[str, int]:
    """The status of `GET /__sandbox/faults` on each stand-in named in `env`."""
    ctx = ssl.create_default_context(cafile=env["Q2C_SALESFORCE_CA_BUNDLE"])
    with httpx.Client(verify=ctx, trust_env=False, timeout=10) as client:
        return {
            name: client.get(env[key] + suffix + "/__sandbox/faults").status_code
            for name, key, suffix in [
                ("billing", "Q2C_BILLING_API_BASE", ""),
                ("salesforce", "Q2C_SALESFORCE_LOGIN_URL", ""),
                ("erp", "Q2C_ERP_BASE_URL", ""),
            ]
        }


def test_session_fixture_serves_all_three_over_the_s_world(
    sandbox_services: dict[str, str],
) -> None:
    assert set(sandbox_services) == ENV_KEYS_ALL
    assert sandbox_services["Q2C_SALESFORCE_LOGIN_URL"].startswith("https://")
    assert answers(sandbox_services) == {"billing": 200, "salesforce": 200, "erp": 200}


def test_env_credentials_open_each_service(sandbox_services: dict[str, str]) -> None:
    import requests
    import stripe

    env = sandbox_services
    billing = stripe.StripeClient(
        env["Q2C_BILLING_API_KEY"], base_addresses={"api": env["Q2C_BILLING_API_BASE"]}
    )
    assert len(billing.customers.list(params={"limit": 3}).data) == 3
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override `verify`
    session.verify = env["Q2C_SALESFORCE_CA_BUNDLE"]
    token = session.post(
        env["Q2C_SALESFORCE_LOGIN_URL"] + "/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": env["Q2C_SALESFORCE_CLIENT_ID"],
            "client_secret": env["Q2C_SALESFORCE_CLIENT_SECRET"],
            "username": env["Q2C_SALESFORCE_USERNAME"],
            "password": env["Q2C_SALESFORCE_PASSWORD"],
        },
        timeout=10,
    )
    assert token.status_code == 200 and token.json()["access_token"]
    assert suiteql(env, "SELECT id FROM currency").json()["totalResults"] == 3


def test_start_services_all_three_stop_cleanly(world_s: Path, tmp_path: Path) -> None:
    threads_before = set(threading.enumerate())
    with start_services(world_s, profile("flaky"), tmp_path) as sandbox:
        env = dict(sandbox.env)
        assert answers(env) == {"billing": 200, "salesforce": 200, "erp": 200}
        assert sandbox.get_faults("erp")["rate_limit"] == profile("flaky")["erp"]["rate_limit"]
    for key in ("Q2C_BILLING_API_BASE", "Q2C_SALESFORCE_LOGIN_URL", "Q2C_ERP_BASE_URL"):
        assert not port_open(env[key])
    leftover = set(threading.enumerate()) - threads_before
    assert not [t for t in leftover if t.name.startswith("sandbox-")]


def test_cli_up_status_faults_down_round_trip_leaves_no_process(
    world_s: Path, tmp_path: Path
) -> None:
    root = tmp_path / "sb"
    shutil.copytree(world_s, root / "world")
    env = json.loads(q2c("up", "--json", "--dir", str(root), "--faults", "flaky").stdout)
    pid = json.loads((root / "state.json").read_text())["pid"]
    try:
        assert set(env) == ENV_KEYS_ALL
        assert processes_in_group(pid) == [pid]
        assert answers(env) == {"billing": 200, "salesforce": 200, "erp": 200}
        assert (root / "sandbox.env").read_text().count("\n") == len(env)
        # `up` again finds it running and prints the same env
        again = q2c_in_process("up", "--json", "--dir", str(root))
        assert json.loads(again.stdout[again.stdout.index("{") :]) == env
        status = json.loads(q2c_in_process("status", "--json", "--dir", str(root)).stdout)
        assert status["running"] and status["faults"] == "flaky"
        assert all(s["answering"] for s in status["services"].values())
        update = {"rate_limit": 1.0, "server_error_burst": 0}  # the burst answers 503 first
        shown = json.loads(
            q2c_in_process("faults", "set", "erp", json.dumps(update), "--dir", str(root)).stdout
        )
        assert shown == {**DEFAULTS, **profile("flaky")["erp"], **update}
        assert suiteql(env, "SELECT id FROM account").status_code == 429
        refused = q2c_in_process("faults", "set", "erp", '{"nope": 1}', "--dir", str(root))
        assert refused.exit_code == 1 and "unknown ERP fault" in refused.output
        # the running stand-ins see `advance` at once
        q2c_in_process("faults", "set", "erp", json.dumps(DEFAULTS), "--dir", str(root))
        before = erp_transactions(env)
        assert before == truth_count(root / "world", "transaction")
        advanced = q2c_in_process("advance", "--days", "2", "--dir", str(root))
        assert advanced.exit_code == 0, advanced.output
        after = erp_transactions(env)
        assert after == truth_count(root / "world", "transaction") > before
    finally:
        q2c("down", "--dir", str(root))
    assert processes_in_group(pid) == []
    assert not any(
        port_open(env[k])
        for k in ("Q2C_BILLING_API_BASE", "Q2C_SALESFORCE_LOGIN_URL", "Q2C_ERP_BASE_URL")
    )
    assert not (root / "state.json").exists()
    assert q2c_in_process("status", "--dir", str(root)).exit_code == 1
