"""The runner: `q2c sandbox up/status/faults/down` as a user runs them, and `start_services`."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from sandbox.erp.faults import DEFAULTS
from sandbox.faults import PROFILES, profile
from sandbox.services import start_services
from tests.support.sandbox import build_tiny_erp_world

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ENV_KEYS_ERP = {"Q2C_ERP_BASE_URL", "Q2C_ERP_TOKEN", "Q2C_VIES_URL"}


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


def test_cli_up_status_faults_down_round_trip_leaves_no_process(tmp_path: Path) -> None:
    root = tmp_path / "sb"
    build_tiny_erp_world(root / "world")
    env = json.loads(q2c("up", "--json", "--dir", str(root), "--services", "erp").stdout)
    state = json.loads((root / "state.json").read_text())
    pid = state["pid"]
    try:
        assert set(env) == ENV_KEYS_ERP
        assert processes_in_group(pid) == [pid]
        r = suiteql(env, "SELECT COUNT(*) AS n FROM transaction")
        assert r.json()["items"][0]["n"] == "250"
        assert (root / "sandbox.env").read_text().count("\n") == len(env)
        # `up` again finds it running and prints the same env
        assert json.loads(q2c("up", "--json", "--dir", str(root)).stdout) == env
        status = json.loads(q2c("status", "--json", "--dir", str(root)).stdout)
        assert status["running"] and status["services"]["erp"]["answering"]
        q2c("faults", "set", "erp", '{"rate_limit": 1.0}', "--dir", str(root))
        assert suiteql(env, "SELECT id FROM account").status_code == 429
        shown = json.loads(q2c("faults", "show", "erp", "--dir", str(root)).stdout)
        assert shown["rate_limit"] == 1.0
        refused = q2c("faults", "set", "erp", '{"nope": 1}', "--dir", str(root), check=False)
        assert refused.returncode == 1 and "unknown ERP fault" in refused.stderr
    finally:
        q2c("down", "--dir", str(root))
    assert processes_in_group(pid) == []
    assert not port_open(env["Q2C_ERP_BASE_URL"])
    assert not (root / "state.json").exists()
    assert q2c("status", "--dir", str(root), check=False).returncode == 1
    assert "not running" in q2c("down", "--dir", str(root)).stdout


def test_cli_up_with_a_fault_profile_starts_with_those_faults(tmp_path: Path) -> None:
    root = tmp_path / "sb"
    build_tiny_erp_world(root / "world")
    q2c("up", "--json", "--dir", str(root), "--services", "erp", "--faults", "hostile")
    try:
        shown = json.loads(q2c("faults", "show", "erp", "--dir", str(root)).stdout)
        assert shown == {**DEFAULTS, **profile("hostile")["erp"]}
    finally:
        q2c("down", "--dir", str(root))


def test_cli_up_with_an_unknown_profile_exits_2_and_starts_nothing(tmp_path: Path) -> None:
    root = tmp_path / "sb"
    build_tiny_erp_world(root / "world")
    bad = q2c("up", "--dir", str(root), "--services", "erp", "--faults", "stormy", check=False)
    assert bad.returncode == 2 and "known profiles" in bad.stderr
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
    assert all(erp[name] for name in DEFAULTS if name != "seed")
