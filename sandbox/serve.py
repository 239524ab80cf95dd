"""The sandbox server process: `python -m sandbox.serve --world DIR --state DIR [...]`.

Starts the stand-ins (`sandbox.services.start_services`) over a world, checks that each
answers, then writes `DIR/state.json` atomically:
`{"pid", "env", "urls", "world_dir", "faults", "services", "started_at"}`. It runs until
SIGTERM or SIGINT, then stops every server and removes its state file (only if the file is
still its own). `q2c sandbox up` starts it detached and waits for the state file; `q2c sandbox
down` sends SIGTERM. Log lines go to stderr and carry no credentials.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from sandbox.faults import PROFILES, profile
from sandbox.services import SERVICES, start_services, wait_until_answering

log = logging.getLogger("sandbox.serve")
STATE_FILE = "state.json"


def write_state(state_dir: Path, state: dict) -> Path:
    """Write the state file atomically (readers never see half a file)."""
    path = state_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.chmod(0o600)
    os.replace(tmp, path)
    return path


def remove_own_state(state_dir: Path, pid: int) -> None:
    """Delete the state file if it still describes process `pid`."""
    path = state_dir / STATE_FILE
    try:
        if json.loads(path.read_text()).get("pid") == pid:
            path.unlink()
    except (FileNotFoundError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    """Run the stand-ins until told to stop. Returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.serve", description=__doc__)
    parser.add_argument("--world", required=True, type=Path, help="the world directory")
    parser.add_argument("--state", required=True, type=Path, help="where state.json goes")
    parser.add_argument("--faults", default="none", choices=sorted(PROFILES))
    parser.add_argument(
        "--services", default=",".join(SERVICES), help="comma-separated subset of the services"
    )
    parser.add_argument("--webhook-url", default=None, help="send signed billing webhooks here")
    parser.add_argument(
        "--webhook-secret-file",
        type=Path,
        default=None,
        help="file holding the endpoint secrets, comma-separated (never on the command line)",
    )
    parser.add_argument(
        "--webhook-faults", default="{}", help='sender knobs as JSON, e.g. {"duplicate_rate": 0.1}'
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # no line per readiness probe
    services = [s for s in args.services.split(",") if s]
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    args.state.mkdir(parents=True, exist_ok=True)
    faults = {k: v for k, v in profile(args.faults).items() if k in services}
    secrets: list[str] = []
    if args.webhook_secret_file is not None:
        secrets = [s for s in args.webhook_secret_file.read_text().strip().split(",") if s]
    sandbox = start_services(
        args.world,
        faults,
        args.state,
        services=services,
        webhook_url=args.webhook_url,
        webhook_secrets=secrets,
        webhook_faults=json.loads(args.webhook_faults),
    )
    pid = os.getpid()
    try:
        wait_until_answering(sandbox)
        write_state(
            args.state,
            {
                "pid": pid,
                "env": sandbox.env,
                "urls": sandbox.urls,
                "ca_pem": str(sandbox.ca_pem) if sandbox.ca_pem else None,
                "world_dir": str(args.world.resolve()),
                "faults": args.faults,
                "services": services,
                "started_at": time.time(),
            },
        )
        log.info("serving %s", ", ".join(f"{k}={v}" for k, v in sandbox.urls.items()))
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
        remove_own_state(args.state, pid)
        log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
