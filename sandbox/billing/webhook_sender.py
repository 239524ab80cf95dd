"""The billing stand-in's webhook sender: signed deliveries of world activity to one endpoint.

Stripe's delivery protocol (https://docs.stripe.com/webhooks): each event is POSTed as JSON to the
endpoint with `Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, one `v1`
per endpoint secret (during a rotation the old and the new secret both sign); any answer but 2xx
(or no answer) is retried with backoff; delivery order is not guaranteed and an event may come
more than once. `GET /v1/events?delivery_success=false` lists the events whose deliveries are
pending or failed.

`WebhookSender(world_dir, url, secrets, faults)` is a thread that watches `billing.sqlite` for
events created after it started (the world's `advance`, the API's writes, any writer), marks each
`delivered = 0` (pending) and delivers it; a 2xx sets `delivered = 1`. Events already in the
world when it started keep the delivery state the generator gave them (`delivered = 0` for the
injected late events: never delivered). Retries wait `retry_delays_s` (compressed from Stripe's
hours to seconds); after the last one the event stays `delivered = 0` (failed).

Fault knobs (`WebhookFaults`; `q2c sandbox up --webhook-faults`, or `faults.update(...)` at run
time): `duplicate_rate` (a delivered event is sent once more),
`reorder` (each batch of new events goes out in reverse order), `drop_rate` (an event is never
sent, as if every attempt failed). Deterministic from `seed`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger(__name__)

DEFAULT_RETRY_DELAYS_S = (0.2, 0.5, 1.0, 2.0)
#: a duplicate goes out this long after the first delivery (its own signature timestamp)
DUPLICATE_AFTER_S = 1.0


@dataclass
class WebhookFaults:
    """What goes wrong with deliveries (see the module docstring)."""

    duplicate_rate: float = 0.0
    reorder: bool = False
    drop_rate: float = 0.0

    def update(self, changes: dict[str, Any]) -> None:
        """Change some knobs; unknown names raise `ValueError`."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown webhook faults {sorted(unknown)}; known: {sorted(known)}")
        for name, value in changes.items():
            setattr(self, name, bool(value) if name == "reorder" else float(value))

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class _Delivery:
    event_id: str
    body: bytes
    attempts: int = 0
    next_at: float = 0.0
    duplicate: bool = False


def signature_header(body: bytes, secrets: Sequence[str], timestamp: int) -> str:
    """`t=<timestamp>,v1=<sig>[,v1=<sig>...]`, one signature per secret."""
    signed = str(timestamp).encode() + b"." + body
    sigs = [hmac.new(s.encode(), signed, hashlib.sha256).hexdigest() for s in secrets]
    return ",".join([f"t={timestamp}", *(f"v1={sig}" for sig in sigs)])


@dataclass
class WebhookSender:
    """Delivers new world events to `url`, signed with `secrets` (see the module docstring)."""

    world_dir: Path
    url: str
    secrets: Sequence[str] = field(repr=False)
    faults: WebhookFaults = field(default_factory=WebhookFaults)
    retry_delays_s: Sequence[float] = DEFAULT_RETRY_DELAYS_S
    poll_interval_s: float = 0.1
    seed: int = 7
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> WebhookSender:
        """Start watching from the newest event now in the world."""
        if not self.secrets:
            raise ValueError("a webhook sender needs at least one secret")
        conn = self._connect()
        try:
            (self._last_rowid,) = conn.execute(
                "SELECT coalesce(max(rowid), 0) FROM objects"
            ).fetchone()
        finally:
            conn.close()
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop delivering (pending deliveries stay `delivered = 0`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.world_dir / "billing.sqlite", isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 10000")
        return conn

    def _run(self) -> None:
        rng = random.Random(self.seed)
        conn = self._connect()
        queue: list[_Delivery] = []
        try:
            with httpx.Client(timeout=5.0, trust_env=False) as client:
                while not self._stop.is_set():
                    queue.extend(self._new_events(conn, rng))
                    now = time.monotonic()
                    due = [d for d in queue if d.next_at <= now]
                    for delivery in due:
                        if self._stop.is_set():
                            break
                        if self._attempt(client, conn, delivery, rng):
                            queue.remove(delivery)
                    self._stop.wait(self.poll_interval_s)
        except Exception:  # a sender must never take the stand-in down with it
            log.exception("webhook sender stopped on an error")
        finally:
            conn.close()

    def _new_events(self, conn: sqlite3.Connection, rng: random.Random) -> list[_Delivery]:
        rows = conn.execute(
            "SELECT rowid, id, body FROM objects WHERE object = 'event' AND rowid > ?"
            " ORDER BY rowid",
            [self._last_rowid],
        ).fetchall()
        if not rows:
            return []
        self._last_rowid = rows[-1][0]
        ids = [r[1] for r in rows]
        marks = ",".join("?" * len(ids))
        conn.execute(f"UPDATE objects SET delivered = 0 WHERE id IN ({marks})", ids)
        batch = []
        for _rowid, event_id, body in rows:
            if rng.random() < self.faults.drop_rate:
                self.failed += 1  # never sent: stays pending, as if every attempt failed
                continue
            batch.append(_Delivery(event_id, body.encode()))
        if self.faults.reorder:
            batch.reverse()
        return batch

    def _attempt(
        self,
        client: httpx.Client,
        conn: sqlite3.Connection,
        delivery: _Delivery,
        rng: random.Random,
    ) -> bool:
        """One delivery attempt; True when the delivery is finished (delivered or given up)."""
        ok = self._post(client, delivery.body)
        delivery.attempts += 1
        if delivery.duplicate:
            return True  # the extra copy is not retried and changes no delivery state
        if ok:
            conn.execute("UPDATE objects SET delivered = 1 WHERE id = ?", [delivery.event_id])
            self.delivered += 1
            if rng.random() < self.faults.duplicate_rate:
                # Stripe may deliver an event twice: another attempt, signed when it is sent
                delivery.attempts = 0
                delivery.next_at = time.monotonic() + DUPLICATE_AFTER_S
                delivery.duplicate = True
                return False
            return True
        if delivery.attempts > len(self.retry_delays_s):
            self.failed += 1
            log.warning(
                "webhook %s: gave up after %d attempts", delivery.event_id, delivery.attempts
            )
            return True
        delivery.next_at = time.monotonic() + self.retry_delays_s[delivery.attempts - 1]
        return False

    def _post(self, client: httpx.Client, body: bytes) -> bool:
        self.sent += 1
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature_header(body, self.secrets, int(time.time())),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        try:
            response = client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.info("webhook delivery to %s failed: %s", self.url, type(exc).__name__)
            return False
        return 200 <= response.status_code < 300

    def stats(self) -> dict[str, Any]:
        """Deliveries so far and the current faults."""
        return {
            "sent": self.sent,
            "delivered": self.delivered,
            "failed": self.failed,
            "faults": self.faults.as_dict(),
        }
