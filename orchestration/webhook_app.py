"""The webhook intake: a small ASGI app (Starlette) that verifies and stores billing events.

Contract:
- `POST /webhooks/billing`: the body is read raw, the `Stripe-Signature` header verified against
  the configured endpoint secrets (`extractors.billing.webhooks.verify_signature`), the event
  parsed, then stored in the inbox `raw.billing__webhook_event` (deduplicated by event id).
  Answers: `200 {"received": true}` when stored, `200 {"received": true, "duplicate": true}`
  for an event already stored (a re-delivery: Stripe signs each attempt anew, and retries
  anything but 2xx), `400 {"error": <reason>}` for a missing, malformed or wrong signature, a
  timestamp outside the tolerance, a replay (the very request, same timestamp and body, already
  answered 200 within the tolerance window; remembered by this process), or a body that is
  not an event (that body, signed by the provider, is kept in `ops.quarantine` with the reason),
  `503` when the warehouse stays busy past `busy_timeout_s` (DuckDB takes one writing process
  at a time: a running pipeline step holds it; Stripe then retries later).
- Every answer is counted in `ops.webhook_intake` (outcome, reason) and in memory;
  `GET /metrics` returns the process's counters and `GET /healthz` answers `ok`.
- The warehouse is opened on a request and closed `hold_open_s` (0.5 s) after the last one, so
  a burst of deliveries shares one connection and the pipeline's own runs can take the DuckDB
  file between bursts; writes of this process are serialized by a lock.
- Nothing is sent anywhere: the intake only receives (the read-only phase). Secrets never reach
  a log line or an answer; log lines name the outcome, the reason and the event id only.
- The sensor `billing_webhook_sensor` (`orchestration/sensors.py`) turns stored events into
  targeted re-reads.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from extractors.billing.webhooks import (
    DEFAULT_TOLERANCE_S,
    INBOX_OBJECT,
    SIGNATURE_HEADER,
    SOURCE,
    MalformedEvent,
    SignatureError,
    count_outcome,
    parse_event,
    store_event,
    verify_signature,
)
from q2c.landing import quarantine
from q2c.warehouse import Warehouse

log = logging.getLogger(__name__)

PATH = "/webhooks/billing"
RUN_ID = "webhook-intake"
#: Bodies above this are refused before verification (Stripe's events are a few KB).
MAX_BODY_BYTES = 1_000_000


@dataclass(frozen=True)
class IntakeConfig:
    """What the intake needs: where to store, the secrets, the tolerance.

    The secrets are kept out of `repr`.
    """

    warehouse_url: str
    secrets: Sequence[str] = field(repr=False)
    tolerance_s: int = DEFAULT_TOLERANCE_S
    busy_timeout_s: float = 10.0
    #: how long the warehouse stays open after a request (a burst of deliveries shares one
    #: connection; DuckDB's file is free again this long after the last one)
    hold_open_s: float = 0.5


class WarehouseBusy(Exception):
    """The warehouse stayed locked by another process past the busy timeout."""


class Intake:
    """Verifies, stores and counts; the app's handlers call `handle`."""

    def __init__(self, config: IntakeConfig) -> None:
        if not config.secrets:
            raise ValueError("no webhook secret configured: set Q2C_BILLING_WEBHOOK_SECRETS")
        self.config = config
        self.counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._wh: Warehouse | None = None
        # signed requests answered 200 within the tolerance window: a second copy is a replay
        self._accepted: dict[str, int] = {}
        self._replay_lock = threading.Lock()
        self._closer: threading.Timer | None = None

    def handle(self, body: bytes, header: str | None) -> tuple[int, dict[str, Any]]:
        """Answer one delivery: (HTTP status, JSON body)."""
        if len(body) > MAX_BODY_BYTES:
            return self._refuse("body_too_large")
        try:
            timestamp = verify_signature(body, header, self.config.secrets, self.config.tolerance_s)
        except SignatureError as err:
            return self._refuse(err.reason)
        replay_key = f"{timestamp}:{hashlib.sha256(body).hexdigest()}"
        if self._seen(replay_key, timestamp):
            return self._refuse("replayed_request")
        try:
            event = parse_event(body)
        except MalformedEvent as err:
            reason = f"webhook body: {err}"
            self._with_warehouse(
                lambda wh: quarantine(wh, SOURCE, INBOX_OBJECT, reason, body, run_id=RUN_ID),
                swallow=True,
            )
            return self._refuse(err.reason)

        def store_and_count(wh: Warehouse) -> str:
            stored = store_event(wh, event, provider_ref=f"webhook:{timestamp}", run_id=RUN_ID)
            outcome = "stored" if stored else "duplicate"
            count_outcome(wh, outcome, "")
            return outcome

        try:
            outcome = self._with_warehouse(store_and_count)
        except WarehouseBusy:
            self.counts[("refused", "warehouse_busy")] += 1
            log.warning("webhook %s: warehouse busy, answered 503", event["id"])
            return 503, {"error": "warehouse_busy"}
        self.counts[(outcome, "")] += 1
        self._remember(replay_key, timestamp)
        log.info("webhook %s (%s): %s", event["id"], event["type"], outcome)
        return 200, {"received": True, **({"duplicate": True} if outcome == "duplicate" else {})}

    def _seen(self, key: str, timestamp: int) -> bool:
        """Whether this exact signed request (timestamp and body) was answered 200 before."""
        with self._replay_lock:
            horizon = time.time() - self.config.tolerance_s
            for old in [k for k, t in self._accepted.items() if t < horizon]:
                del self._accepted[old]
            return key in self._accepted

    def _remember(self, key: str, timestamp: int) -> None:
        with self._replay_lock:
            self._accepted[key] = timestamp

    def _refuse(self, reason: str) -> tuple[int, dict[str, Any]]:
        self._count("refused", reason)
        log.warning("webhook refused: %s", reason)
        return 400, {"error": reason}

    def _count(self, outcome: str, reason: str) -> None:
        self.counts[(outcome, reason)] += 1
        self._with_warehouse(lambda wh: count_outcome(wh, outcome, reason), swallow=True)

    def _with_warehouse(self, work: Any, *, swallow: bool = False) -> Any:
        """Run `work(wh)` on the warehouse, opening it if needed and waiting out a DuckDB lock.

        The connection is closed `hold_open_s` after the last request (or at once after an
        error), so the pipeline's own runs can take the DuckDB file between bursts.

        Raises:
            WarehouseBusy: the file stayed locked for `busy_timeout_s` (unless `swallow`).
        """
        deadline = time.monotonic() + self.config.busy_timeout_s
        delay = 0.05
        with self._lock:
            if self._closer is not None:
                self._closer.cancel()
                self._closer = None
            try:
                while self._wh is None:
                    try:
                        wh = Warehouse.from_url(self.config.warehouse_url)
                        wh.fetchone("select 1")  # DuckDB takes its file lock here
                        self._wh = wh
                    except duckdb.IOException as exc:
                        if "lock" not in str(exc).lower():
                            raise
                        if time.monotonic() > deadline:
                            if swallow:
                                log.warning("webhook intake: warehouse busy, a count was lost")
                                return None
                            raise WarehouseBusy() from exc
                        time.sleep(delay)
                        delay = min(delay * 2, 1.0)
                return work(self._wh)
            except BaseException:
                self._close_locked()
                raise
            finally:
                if self._wh is not None:
                    self._closer = threading.Timer(self.config.hold_open_s, self.close)
                    self._closer.daemon = True
                    self._closer.start()

    def close(self) -> None:
        """Close the warehouse connection (it is reopened by the next request)."""
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._wh is not None:
            self._wh.close()
            self._wh = None


def create_app(config: IntakeConfig) -> Starlette:
    """The intake's ASGI app (see the module docstring)."""
    intake = Intake(config)

    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        status, answer = await run_in_threadpool(
            intake.handle, body, request.headers.get(SIGNATURE_HEADER)
        )
        return JSONResponse(answer, status_code=status)

    async def metrics(request: Request) -> JSONResponse:
        out: dict[str, dict[str, int]] = {}
        for (outcome, reason), n in sorted(intake.counts.items()):
            out.setdefault(outcome, {})[reason] = n
        return JSONResponse(out)

    async def healthz(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[
            Route(PATH, receive, methods=["POST"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
    app.state.intake = intake
    return app
