"""`q2c sandbox` commands: run the local stand-ins for billing, Salesforce and the ERP.

- `q2c sandbox up [--scale S|M|L] [--seed N] [--profile default|messy]
  [--faults none|flaky|hostile] [--json] [--dir DIR] [--services billing,salesforce,erp]`:
  generate the world in `DIR/world` if it is absent (`--profile messy`: the same business set
  up as real orgs are, with its own contract, see `sandbox/world/profiles`), start a
  detached server process (`python -m sandbox.serve`) that serves every stand-in on free
  loopback ports, wait until each answers, and print the environment the pipeline needs (a
  table, or JSON with `--json`; with `Q2C_POLICY_FILE` for a profile with its own contract).
  The same variables are written to `DIR/sandbox.env` (dotenv format). Running `up` while
  the sandbox runs prints its env again.
- `q2c sandbox down [--dir DIR]`: stop the server process (SIGTERM to its process group,
  SIGKILL after 15 s) and wait until no process of it is left.
- `q2c sandbox status [--dir DIR] [--json]`: is it running, and does each stand-in answer.
- `q2c sandbox advance --days N [--dir DIR]`: append N days of activity to the world and move
  its clock; the running stand-ins read the world live, so no restart is needed.
- `q2c sandbox faults set SERVICE JSON` / `q2c sandbox faults show SERVICE`: change or read a
  running stand-in's faults (merged; names in each stand-in's fault module).

`DIR` defaults to `$Q2C_HOME/sandbox` (`.q2c/sandbox`). Secrets are printed only by `up`
(they are sandbox-only values) and never logged.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from orchestration.commands.json_output import JsonFlag, fail, json_or_logs, say

app = typer.Typer(no_args_is_help=True)
faults_app = typer.Typer(no_args_is_help=True)
app.add_typer(faults_app, name="faults", help="Read or change a running stand-in's faults.")
console = Console()
err_console = Console(stderr=True)

STATE_FILE = "state.json"
ENV_FILE = "sandbox.env"
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0
WORLD_FILES = ("billing.sqlite", "salesforce.sqlite", "erp.sqlite", "truth.sqlite")


def _default_dir() -> Path:
    from q2c.settings import load_settings

    return load_settings().home / "sandbox"


DirOpt = typer.Option(None, "--dir", help="Sandbox directory (default $Q2C_HOME/sandbox).")
JsonOpt = typer.Option(False, "--json", help="Print JSON.")


def _state(root: Path) -> dict[str, Any] | None:
    try:
        return json.loads((root / STATE_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """True if `pid` runs (a zombie, exited but not reaped, counts as gone)."""
    with contextlib.suppress(ChildProcessError):
        # Reap it if it is our child (tests run `up` in-process), so it does not linger.
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return True


def _running_state(root: Path) -> dict[str, Any] | None:
    state = _state(root)
    if state is not None and _alive(int(state["pid"])):
        return state
    return None


def running_env(root: Path) -> dict[str, str] | None:
    """The environment of the sandbox running under `root` (None when none runs)."""
    state = _running_state(root)
    return dict(state["env"]) if state is not None else None


def _print_env(env: dict[str, str], as_json: bool, title: str) -> None:
    if as_json:
        typer.echo(json.dumps(env, indent=2, sort_keys=True))
        return
    table = Table(title=title)
    table.add_column("variable", style="bold")
    table.add_column("value")
    for key in sorted(env):
        table.add_row(key, env[key])
    console.print(table)


def _world_meta(world_dir: Path) -> dict[str, str]:
    path = world_dir / "erp.sqlite"
    if not path.exists():
        return {}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return dict(conn.execute("SELECT key, value FROM meta"))
    finally:
        conn.close()


def _ensure_world(
    world_dir: Path, scale: str, seed: int, services: list[str], profile: str = "default"
) -> None:
    needed = [f"{s}.sqlite" for s in services]
    if all((world_dir / name).exists() for name in needed):
        meta = _world_meta(world_dir)
        have = (meta.get("scale"), meta.get("seed"), meta.get("profile", "default"))
        if meta and have != (scale, str(seed), profile):
            err_console.print(
                f"note: using the existing world in {world_dir} "
                f"(scale {have[0]}, seed {have[1]}, profile {have[2]}); "
                "delete it to generate another"
            )
        return
    from sandbox import world

    started = time.monotonic()
    with console.status(f"generating the {scale} {profile} world (seed {seed}) in {world_dir}"):
        world_dir.mkdir(parents=True, exist_ok=True)
        world.generate(world_dir, seed=seed, scale=scale, profile=profile)
    err_console.print(f"world generated in {time.monotonic() - started:.1f} s")


@app.command("up")
def up(
    scale: str = typer.Option("S", "--scale", help="World size: S, M or L."),
    seed: int = typer.Option(7, "--seed", help="World seed."),
    profile: str = typer.Option(
        "default", "--profile", help="World profile: default, or messy (an org set up its own way)."
    ),
    faults: str = typer.Option("none", "--faults", help="Fault profile: none, flaky, hostile."),
    as_json: bool = JsonOpt,
    root: Path | None = DirOpt,
    services: str = typer.Option(
        "billing,salesforce,erp", "--services", help="Comma-separated stand-ins to run."
    ),
    webhook_url: str | None = typer.Option(
        None, "--webhook-url", help="Send signed billing webhooks of new events to this URL."
    ),
    webhook_secret: str | None = typer.Option(
        None,
        "--webhook-secret",
        envvar="Q2C_BILLING_WEBHOOK_SECRETS",
        help="Endpoint secret(s) signing them, comma-separated (whsec_...).",
        show_default=False,
    ),
    webhook_faults: str = typer.Option(
        "{}",
        "--webhook-faults",
        help='Webhook sender knobs as JSON: {"duplicate_rate": 0.1, "reorder": true, '
        '"drop_rate": 0.05}.',
    ),
) -> None:
    """Start the stand-ins in the background and print the environment the pipeline needs."""
    from orchestration.commands.json_output import logs_to_stderr
    from sandbox.faults import PROFILES
    from sandbox.services import SERVICES
    from sandbox.world.profiles import PROFILES as WORLD_PROFILES

    root = (root or _default_dir()).absolute()
    if scale not in ("S", "M", "L"):
        raise typer.BadParameter("scale is S, M or L", param_hint="--scale")
    if faults not in PROFILES:
        raise typer.BadParameter(f"known profiles: {', '.join(PROFILES)}", param_hint="--faults")
    if profile not in WORLD_PROFILES:
        raise typer.BadParameter(
            f"known world profiles: {', '.join(WORLD_PROFILES)}", param_hint="--profile"
        )
    wanted = [s for s in services.split(",") if s]
    if not wanted or set(wanted) - set(SERVICES):
        raise typer.BadParameter(f"services among {', '.join(SERVICES)}", param_hint="--services")
    running = _running_state(root)
    if running is not None:
        err_console.print(f"the sandbox already runs (pid {running['pid']}); its environment:")
        _print_env(running["env"], as_json, "q2c sandbox (already running)")
        return
    world_dir = root / "world"
    root.mkdir(parents=True, exist_ok=True)
    # with --json, stdout carries the environment document only: progress goes to stderr
    with logs_to_stderr() if as_json else contextlib.nullcontext():
        _ensure_world(world_dir, scale, seed, wanted, profile)
        (root / STATE_FILE).unlink(missing_ok=True)
        log_path = root / "serve.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "sandbox.serve",
                    "--world",
                    str(world_dir),
                    "--state",
                    str(root),
                    "--faults",
                    faults,
                    "--services",
                    ",".join(wanted),
                    *_webhook_args(root, webhook_url, webhook_secret, webhook_faults),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # detached: its own session and process group
                close_fds=True,
                cwd=Path(__file__).resolve().parents[2],
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        with console.status("starting the stand-ins"):
            while True:
                state = _state(root)
                if state is not None and state.get("pid") == proc.pid:
                    break
                if proc.poll() is not None or time.monotonic() > deadline:
                    if proc.poll() is None:
                        _stop_pid(proc.pid)
                    tail = log_path.read_text(errors="replace").splitlines()[-15:]
                    err_console.print("the sandbox did not start; last lines of", str(log_path))
                    err_console.print("\n".join(tail), markup=False, highlight=False)
                    raise typer.Exit(1)
                time.sleep(0.1)
    env = state["env"]
    (root / ENV_FILE).write_text("".join(f"{k}={v}\n" for k, v in sorted(env.items())))
    (root / ENV_FILE).chmod(0o600)
    _print_env(env, as_json, f"q2c sandbox (pid {proc.pid}, faults {faults})")
    err_console.print(f"also in {root / ENV_FILE}; stop with `q2c sandbox down`")


def _webhook_args(root: Path, url: str | None, secret: str | None, faults: str) -> list[str]:
    """The server's webhook arguments; the secret goes through a 0600 file, never argv."""
    if not url:
        return []
    if not secret:
        raise typer.BadParameter(
            "--webhook-url needs --webhook-secret", param_hint="--webhook-secret"
        )
    try:
        json.loads(faults)
    except ValueError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--webhook-faults") from exc
    secret_file = root / "webhook-secret"
    secret_file.touch(mode=0o600)
    secret_file.write_text(secret)
    return [
        "--webhook-url",
        url,
        "--webhook-secret-file",
        str(secret_file),
        "--webhook-faults",
        faults,
    ]


def _stop_pid(pid: int) -> bool:
    """SIGTERM the process group of `pid`, SIGKILL after a grace period. True if it stopped."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _alive(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            time.sleep(0.5)
            return not _alive(pid)
        time.sleep(0.05)
    return True


@app.command("down")
def down(root: Path | None = DirOpt, as_json: JsonFlag = False) -> None:
    """Stop the stand-ins started by `up`; no process is left behind."""
    root = (root or _default_dir()).absolute()
    state = _state(root)
    if state is None:
        say({"dir": str(root), "stopped": None}, "the sandbox is not running", as_json=as_json)
        return
    pid = int(state["pid"])
    stopped = _stop_pid(pid) if _alive(pid) else True
    (root / STATE_FILE).unlink(missing_ok=True)
    if not stopped:
        fail(f"process {pid} did not stop", as_json=as_json)
    say({"dir": str(root), "stopped": pid}, f"sandbox stopped (pid {pid})", as_json=as_json)


def _client(state: dict[str, Any]) -> Any:
    import httpx  # imported here: it costs every other `q2c` command a second at start

    verify: Any = True
    if state.get("ca_pem"):
        import ssl

        verify = ssl.create_default_context(cafile=state["ca_pem"])
    return httpx.Client(verify=verify, timeout=5, trust_env=False)


@app.command("status")
def status(root: Path | None = DirOpt, as_json: bool = JsonOpt) -> None:
    """Whether the sandbox runs and each stand-in answers."""
    import httpx

    root = (root or _default_dir()).absolute()
    state = _running_state(root)
    report: dict[str, Any] = {"running": state is not None, "dir": str(root), "services": {}}
    if state is not None:
        report["pid"] = state["pid"]
        report["faults"] = state["faults"]
        meta = _world_meta(Path(state["world_dir"]))
        report["world"] = {k: meta.get(k) for k in ("scale", "seed", "now", "profile")}
        with _client(state) as client:
            for name, url in state["urls"].items():
                try:
                    ok = client.get(url + "/__sandbox/faults").is_success
                except httpx.HTTPError:
                    ok = False
                report["services"][name] = {"url": url, "answering": ok}
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    elif state is None:
        console.print("the sandbox is not running")
    else:
        table = Table(title=f"q2c sandbox (pid {state['pid']}, faults {state['faults']})")
        table.add_column("service")
        table.add_column("url")
        table.add_column("answering")
        for name, svc in report["services"].items():
            table.add_row(name, svc["url"], "yes" if svc["answering"] else "[red]no[/red]")
        console.print(table)
        console.print(f"world: {report['world']}")
    if state is None or not all(s["answering"] for s in report["services"].values()):
        raise typer.Exit(1)


@app.command("advance")
def advance(
    days: int = typer.Option(..., "--days", min=1, help="Days of activity to add."),
    root: Path | None = DirOpt,
    as_json: JsonFlag = False,
) -> None:
    """Move the world's clock forward by N days (the stand-ins see it at once)."""
    from sandbox import world

    root = (root or _default_dir()).absolute()
    world_dir = root / "world"
    if not (world_dir / "erp.sqlite").exists():
        fail(f"no world in {world_dir}: run `q2c sandbox up` first", as_json=as_json)
    with json_or_logs(as_json), console.status(f"advancing the world by {days} days"):
        world.advance(world_dir, days)
    now = _world_meta(world_dir).get("now")
    document = {"world_dir": str(world_dir), "days": days, "now": now}
    say(document, f"world clock now {now} (epoch seconds)", as_json=as_json)


def _service_state(root: Path | None, service: str) -> dict[str, Any]:
    state = _running_state((root or _default_dir()).absolute())
    if state is None:
        err_console.print("the sandbox is not running")
        raise typer.Exit(1)
    if service not in state["urls"]:
        err_console.print(f"unknown or stopped service {service!r}; running: {list(state['urls'])}")
        raise typer.Exit(1)
    return state


@faults_app.command("set")
def faults_set(
    service: str = typer.Argument(..., help="billing, salesforce or erp"),
    faults_json: str = typer.Argument(..., help="A JSON object, e.g. '{\"rate_limit\": 0.5}'"),
    root: Path | None = DirOpt,
    as_json: JsonFlag = False,  # the faults are printed as JSON either way
) -> None:
    """Merge a JSON object into a running stand-in's faults."""
    try:
        update = json.loads(faults_json)
    except ValueError as exc:
        raise typer.BadParameter(f"not JSON: {exc}") from None
    state = _service_state(root, service)
    with _client(state) as client:
        r = client.put(state["urls"][service] + "/__sandbox/faults", json=update)
    if not r.is_success:
        err_console.print(f"{service} refused the faults: {r.text}", markup=False)
        raise typer.Exit(1)
    typer.echo(json.dumps(r.json(), indent=2, sort_keys=True))


@faults_app.command("show")
def faults_show(
    service: str = typer.Argument(..., help="billing, salesforce or erp"),
    root: Path | None = DirOpt,
    as_json: JsonFlag = False,  # the faults are printed as JSON either way
) -> None:
    """Print a running stand-in's faults."""
    state = _service_state(root, service)
    with _client(state) as client:
        r = client.get(state["urls"][service] + "/__sandbox/faults")
    typer.echo(json.dumps(r.json(), indent=2, sort_keys=True))
