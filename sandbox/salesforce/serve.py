"""Serve a stand-in app over TLS on a free loopback port in a background thread.

For tests and benchmarks (the `q2c sandbox` runner has its own): a `trustme` CA signs a
certificate for 127.0.0.1 and localhost; clients trust the CA file.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import trustme
import uvicorn
from starlette.applications import Starlette


@dataclass(frozen=True)
class Served:
    """Where a served app listens and the CA file to trust."""

    base_url: str  # https://127.0.0.1:<port>
    ca_file: str
    port: int


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_tls(app: Starlette, cert_dir: Path) -> Iterator[Served]:
    """Run `app` with uvicorn over TLS until the block exits; never leaves a server behind."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_dir.mkdir(parents=True, exist_ok=True)
    ca_file, cert_file, key_file = (cert_dir / n for n in ("ca.pem", "cert.pem", "key.pem"))
    ca.cert_pem.write_to_path(str(ca_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        ssl_certfile=str(cert_file),
        ssl_keyfile=str(key_file),
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the TLS server did not start")
        time.sleep(0.02)
    try:
        yield Served(f"https://127.0.0.1:{port}", str(ca_file), port)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
