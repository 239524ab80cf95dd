"""Serve the stand-ins on loopback with uvicorn and hand back the pipeline's environment.

`start_services(world_dir, faults, state_dir)` starts, each in its own thread with its own
event loop, on a free `127.0.0.1` port:

- billing (`sandbox.billing.app.create_app`), plain HTTP;
- Salesforce (`sandbox.salesforce.app.create_app`), HTTPS with a throwaway `trustme` CA whose
  certificate is written to `state_dir / "salesforce-ca.pem"` (`Q2C_SALESFORCE_CA_BUNDLE`);
- ERP (`sandbox.erp.create_app`), plain HTTP, with the VIES stand-in under `/vies`.

The stand-in packages are imported only when their service is started, so one can run without
the others (`services=("erp",)`). It returns a `RunningSandbox` (also a context manager) whose
`env` holds exactly the variables of ARCHITECTURE.md's configuration table for the stand-ins:
`Q2C_BILLING_API_BASE`, `Q2C_BILLING_API_KEY`, `Q2C_SALESFORCE_LOGIN_URL`,
`Q2C_SALESFORCE_CLIENT_ID`, `Q2C_SALESFORCE_CLIENT_SECRET`, `Q2C_SALESFORCE_USERNAME`,
`Q2C_SALESFORCE_PASSWORD`, `Q2C_SALESFORCE_CA_BUNDLE`, `Q2C_NOTIFY_WEBHOOK_URL` (the
stand-in's `/__sandbox/notifications`), `Q2C_ERP_BASE_URL`, `Q2C_ERP_TOKEN`,
`Q2C_VIES_URL` (the last four only for the services started), plus `Q2C_POLICY_FILE` for a
world of a profile with its own contract (`sandbox.world.profiles`, e.g. `messy`). `stop()`
shuts every server down and joins its thread; no server outlives the sandbox.

With `webhook_url` and `webhook_secrets`, the billing stand-in also sends signed webhooks of
every new event to that URL (`sandbox/billing/webhook_sender.py`: retries, and the
`webhook_faults` duplicates, reordering and drops); `RunningSandbox.webhook_sender` is it.

`faults` is `{"billing": {...}, "salesforce": {...}, "erp": {...}}` (a profile from
`sandbox.faults`, or hand-made); `RunningSandbox.set_faults(service, update)` changes them at
run time through each stand-in's `PUT /__sandbox/faults`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from sandbox.world.profiles import profile_of_world

SERVICES = ("billing", "salesforce", "erp")
BILLING_API_KEY = "sk_test_q2c_sandbox_0000000000000000"
# Salesforce credentials the stand-in accepts. Used only when the Salesforce app module does
# not publish its own (`CLIENT_ID`, `CLIENT_SECRET`, `USERNAME`, `PASSWORD`).
SALESFORCE_DEFAULTS = {
    "CLIENT_ID": "q2c-sandbox-client-id",
    "CLIENT_SECRET": "q2c-sandbox-client-secret",
    "USERNAME": "integration@q2c.example",
    "PASSWORD": "q2c-sandbox-password",
}
START_TIMEOUT_S = 30.0


class SandboxStartError(RuntimeError):
    """A stand-in did not come up."""


@dataclass
class _Served:
    name: str
    server: uvicorn.Server
    thread: threading.Thread
    port: int
    base_url: str
    errors: list[BaseException] = field(default_factory=list)


def _free_socket() -> socket.socket:
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only then (else each
    # response waits ~40 ms for the delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.set_inheritable(False)
    return sock


def _loop_factory() -> Any:
    try:
        import uvloop

        return uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is in the lock file
        return asyncio.new_event_loop


def _serve(app: Any, name: str, ssl_pem: Path | None = None) -> _Served:
    sock = _free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        timeout_keep_alive=30,
        ssl_certfile=str(ssl_pem) if ssl_pem else None,
        ssl_keyfile=str(ssl_pem) if ssl_pem else None,
    )
    server = uvicorn.Server(config)
    scheme = "https" if ssl_pem else "http"
    host = "localhost" if ssl_pem else "127.0.0.1"
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                runner.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # surfaced by start_services
            errors.append(exc)
        finally:
            sock.close()

    thread = threading.Thread(target=run, name=f"sandbox-{name}", daemon=True)
    served = _Served(name, server, thread, port, f"{scheme}://{host}:{port}", errors)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if served.errors or not served.thread.is_alive():
            raise SandboxStartError(f"{name} stand-in failed to start: {served.errors!r}")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise SandboxStartError(f"{name} stand-in did not start in {START_TIMEOUT_S} s")
        time.sleep(0.01)
    return served


def _create(module: str, world_dir: Path, faults: dict | None) -> Any:
    factory = importlib.import_module(module).create_app
    return factory(world_dir, faults or None)


@dataclass
class RunningSandbox:
    """The running stand-ins: their env, base URLs, and how to change faults or stop them."""

    world_dir: Path
    state_dir: Path
    env: dict[str, str]
    urls: dict[str, str]
    ca_pem: Path | None = None
    webhook_sender: Any = None
    _served: list[_Served] = field(default_factory=list, repr=False)

    def control_url(self, service: str) -> str:
        """The root where `service` answers `/__sandbox/...`."""
        if service not in self.urls:
            raise KeyError(f"{service} is not running; running: {', '.join(self.urls)}")
        return self.urls[service]

    def _client(self) -> httpx.Client:
        verify: Any = True
        if self.ca_pem is not None:
            verify = ssl.create_default_context(cafile=str(self.ca_pem))
        return httpx.Client(verify=verify, timeout=10, trust_env=False)

    def get_faults(self, service: str) -> dict[str, Any]:
        """The faults `service` runs with now."""
        with self._client() as client:
            r = client.get(self.control_url(service) + "/__sandbox/faults")
            r.raise_for_status()
            return r.json()

    def set_faults(self, service: str, update: dict[str, Any]) -> dict[str, Any]:
        """Merge `update` into `service`'s faults at run time; returns the stand-in's answer.

        Raises:
            ValueError: the stand-in refused the update (unknown fault name, bad value).
        """
        with self._client() as client:
            r = client.put(self.control_url(service) + "/__sandbox/faults", json=update)
        if r.status_code >= 400:
            raise ValueError(f"{service} refused faults {update}: {r.text}")
        return r.json()

    def stop(self) -> None:
        """Stop every server and join its thread."""
        if self.webhook_sender is not None:
            self.webhook_sender.stop()
            self.webhook_sender = None
        for served in self._served:
            served.server.should_exit = True
        for served in self._served:
            served.thread.join(timeout=10)
            if served.thread.is_alive():  # a hung handler: cut it
                served.server.force_exit = True
                served.thread.join(timeout=5)
        if "erp" in self.urls:
            from sandbox.erp.app import close_open_listings

            close_open_listings(self.world_dir / "erp.sqlite")
        self._served.clear()

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _salesforce_credentials() -> dict[str, str]:
    module = importlib.import_module("sandbox.salesforce.app")
    creds = {}
    for key, default in SALESFORCE_DEFAULTS.items():
        creds[key] = str(getattr(module, key, default))
    return creds


def _make_ca(state_dir: Path) -> tuple[Path, Path]:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ca_pem = state_dir / "salesforce-ca.pem"
    server_pem = state_dir / "salesforce-server.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    cert.private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    server_pem.chmod(0o600)
    return ca_pem, server_pem


def start_services(
    world_dir: Path,
    faults: dict | None,
    state_dir: Path,
    *,
    services: Iterable[str] = SERVICES,
    webhook_url: str | None = None,
    webhook_secrets: Sequence[str] = (),
    webhook_faults: dict[str, Any] | None = None,
) -> RunningSandbox:
    """Start the stand-ins over a world on free loopback ports.

    Args:
        world_dir: a generated world (INTERFACES.md section 1).
        faults: per-service fault dicts, e.g. `sandbox.faults.profile("flaky")`.
        state_dir: where the Salesforce CA and server certificate are written.
        services: which stand-ins to start (default all three).
        webhook_url: where the billing stand-in sends signed webhooks (None: it sends none).
        webhook_secrets: the endpoint secrets that sign them (required with `webhook_url`).
        webhook_faults: the sender's knobs (`WebhookFaults`: duplicate_rate, reorder, drop_rate).

    Returns:
        The running sandbox; use it as a context manager or call `stop()`.

    Raises:
        SandboxStartError: a stand-in did not come up (the others are stopped).
        ValueError: an unknown service name.
    """
    world_dir = Path(world_dir)
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    wanted = list(dict.fromkeys(services))
    unknown = [s for s in wanted if s not in SERVICES]
    if unknown:
        raise ValueError(f"unknown services {unknown}; known: {', '.join(SERVICES)}")
    faults = faults or {}
    extra = set(faults) - set(SERVICES)
    if extra:
        raise ValueError(f"faults for unknown services {sorted(extra)}")
    sandbox = RunningSandbox(world_dir, state_dir, env={}, urls={})
    try:
        if "billing" in wanted:
            app = _create("sandbox.billing.app", world_dir, faults.get("billing"))
            served = _serve(app, "billing")
            sandbox._served.append(served)
            sandbox.urls["billing"] = served.base_url
            sandbox.env["Q2C_BILLING_API_BASE"] = served.base_url
            sandbox.env["Q2C_BILLING_API_KEY"] = BILLING_API_KEY
            if webhook_url:
                from sandbox.billing.webhook_sender import WebhookFaults, WebhookSender

                knobs = WebhookFaults()
                knobs.update(webhook_faults or {})
                sandbox.webhook_sender = WebhookSender(
                    world_dir, webhook_url, list(webhook_secrets), knobs
                ).start()
                # the intake (`q2c webhooks serve`) verifies with the same secrets
                sandbox.env["Q2C_BILLING_WEBHOOK_SECRETS"] = ",".join(webhook_secrets)
        if "salesforce" in wanted:
            ca_pem, server_pem = _make_ca(state_dir)
            sandbox.ca_pem = ca_pem
            app = _create("sandbox.salesforce.app", world_dir, faults.get("salesforce"))
            served = _serve(app, "salesforce", ssl_pem=server_pem)
            sandbox._served.append(served)
            sandbox.urls["salesforce"] = served.base_url
            creds = _salesforce_credentials()
            sandbox.env.update(
                {
                    "Q2C_SALESFORCE_LOGIN_URL": served.base_url,
                    "Q2C_SALESFORCE_CLIENT_ID": creds["CLIENT_ID"],
                    "Q2C_SALESFORCE_CLIENT_SECRET": creds["CLIENT_SECRET"],
                    "Q2C_SALESFORCE_USERNAME": creds["USERNAME"],
                    "Q2C_SALESFORCE_PASSWORD": creds["PASSWORD"],
                    "Q2C_SALESFORCE_CA_BUNDLE": str(ca_pem),
                    # the finance notifications' webhook: the stand-in receives them
                    "Q2C_NOTIFY_WEBHOOK_URL": served.base_url + "/__sandbox/notifications",
                }
            )
        if "erp" in wanted:
            from sandbox.erp.auth import ERP_TOKEN

            app = _create("sandbox.erp", world_dir, faults.get("erp"))
            served = _serve(app, "erp")
            sandbox._served.append(served)
            sandbox.urls["erp"] = served.base_url
            sandbox.env["Q2C_ERP_BASE_URL"] = served.base_url
            sandbox.env["Q2C_ERP_TOKEN"] = ERP_TOKEN
            sandbox.env["Q2C_VIES_URL"] = served.base_url + "/vies"
    except BaseException:
        sandbox.stop()
        raise
    contract = profile_of_world(world_dir).contract
    if contract is not None:  # a company of its own: the pipeline reads its contract
        sandbox.env["Q2C_POLICY_FILE"] = str(contract)
    return sandbox


def wait_until_answering(sandbox: RunningSandbox, timeout_s: float = 30.0) -> None:
    """Block until every running stand-in answers `GET /__sandbox/faults`.

    Raises:
        SandboxStartError: one did not answer in time.
    """
    deadline = time.monotonic() + timeout_s
    with sandbox._client() as client:
        for service in sandbox.urls:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(sandbox.control_url(service) + "/__sandbox/faults").is_success:
                        break
                if time.monotonic() > deadline:
                    raise SandboxStartError(f"{service} does not answer")
                time.sleep(0.05)


__all__ = [
    "BILLING_API_KEY",
    "SERVICES",
    "RunningSandbox",
    "SandboxStartError",
    "start_services",
    "wait_until_answering",
]
