"""Billing webhook intake: Stripe's signature check, the raw inbox, and the intake counters.

Contract (docs: https://docs.stripe.com/webhooks#verify-manually,
https://docs.stripe.com/webhooks/process-undelivered-events):
- `verify_signature(body, header, secrets, tolerance_s)`: the `Stripe-Signature` header is
  `t=<unix seconds>,v1=<hex>[,v1=<hex>...]` (other schemes, e.g. `v0`, are ignored). The
  expected signature is HMAC-SHA256 with an endpoint secret (`whsec_...`) over the bytes
  `<t>.<raw body>`; it is compared in constant time (`hmac.compare_digest`) with every `v1` of
  the header, for every configured secret (during a secret rotation Stripe signs with the old and
  the new secret, and an endpoint may hold both). The timestamp must be within `tolerance_s`
  (default 300 s) of now, in either direction, which bounds replays. Any failure raises
  `SignatureError` with one of `REFUSAL_REASONS`; the message never holds a secret.
- `parse_event(body)`: a verified body must be a JSON object `{"object": "event", "id": "evt_...",
  "type": ..., "created": <int>, "data": {"object": {...}}}`; else `MalformedEvent`.
- The inbox is the raw table `raw.billing__webhook_event` (the landing columns of
  `q2c/landing.py`): one row per event id, `payload` the event as received, `provider_ref` how it
  came (`webhook:<signature t>`, `recovery:<run>` for the Events API's undelivered list,
  `reconcile:<run>` for the nightly comparison). `store_event` lands an event unless its id is
  already there (a duplicate delivery stores nothing and returns False). Events in the inbox are
  not processed yet: the billing extractor's `apply_inbox` re-reads their objects and moves them
  to `raw.billing__event`, where an event counts as processed (see `extract.py`).
- `ops.webhook_intake(outcome, reason, count, last_at)` counts every request the intake answered:
  `stored`, `duplicate`, or `refused` with its reason (`REFUSAL_REASONS`, `malformed_body`,
  `replayed_request`, `body_too_large`; `warehouse_busy` in memory only). `intake_counts(wh)`
  reads them back.
- Nothing here writes to any outside system: the read-only phase only receives and reads.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from q2c.landing import (
    OPS_SCHEMA,
    RawRecord,
    ensure_ops_tables,
    ensure_raw_table,
    land_page,
)
from q2c.warehouse import Warehouse

SOURCE = "billing"
INBOX_OBJECT = "webhook_event"
DEFAULT_TOLERANCE_S = 300
SIGNATURE_HEADER = "Stripe-Signature"
SCHEME = "v1"

#: Why a request is refused with 400 before anything is stored.
REFUSAL_REASONS = (
    "missing_signature",  # no Stripe-Signature header
    "malformed_signature",  # no `t=<int>` in it
    "no_v1_signature",  # no `v1=` signature in it
    "bad_signature",  # no v1 matches any configured secret
    "stale_timestamp",  # `t` outside the tolerance window (a replay, or a clock far off)
)
MALFORMED_BODY = "malformed_body"


class SignatureError(Exception):
    """A webhook whose signature does not verify; `reason` is one of `REFUSAL_REASONS`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class MalformedEvent(Exception):
    """A verified body that is not a Stripe event object."""

    reason = MALFORMED_BODY


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The hex HMAC-SHA256 of `<timestamp>.<body>` with `secret` (Stripe's `v1` scheme)."""
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def verify_signature(
    body: bytes,
    header: str | None,
    secrets: Sequence[str],
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> int:
    """Check a `Stripe-Signature` header against the raw body; return its timestamp.

    Args:
        body: the request body exactly as received (not re-serialized).
        header: the `Stripe-Signature` header value.
        secrets: the endpoint secrets accepted (several during a rotation).
        tolerance_s: how far the header's timestamp may be from now, in seconds.
        now: the current time (default `time.time()`).

    Raises:
        SignatureError: see `REFUSAL_REASONS`.
        ValueError: no secret configured (a configuration error, not a bad request).
    """
    if not secrets:
        raise ValueError("no webhook secret configured (Q2C_BILLING_WEBHOOK_SECRETS)")
    if not header:
        raise SignatureError("missing_signature", f"no {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                timestamp = None
        elif key == SCHEME:
            signatures.append(value.strip())
    if timestamp is None:
        raise SignatureError("malformed_signature", "the signature header has no timestamp")
    if not signatures:
        raise SignatureError("no_v1_signature", f"the signature header has no {SCHEME} signature")
    # Every candidate is compared (no early exit), each in constant time.
    matched = False
    for secret in secrets:
        expected = sign(body, secret, timestamp)
        for candidate in signatures:
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError("bad_signature", "no signature matches the endpoint secrets")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureError(
            "stale_timestamp",
            f"signature timestamp {timestamp} is more than {tolerance_s} s from now",
        )
    return timestamp


def parse_event(body: bytes) -> dict[str, Any]:
    """The event a verified body carries.

    Raises:
        MalformedEvent: not UTF-8 JSON, or not an event object with id, type, created, data.
    """
    try:
        event = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedEvent(f"body is not UTF-8 JSON: {type(exc).__name__}") from exc
    if not isinstance(event, dict) or event.get("object") != "event":
        raise MalformedEvent("body is not an event object")
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id.startswith("evt_"):
        raise MalformedEvent("event has no evt_ id")
    if not isinstance(event.get("type"), str) or not isinstance(event.get("created"), int):
        raise MalformedEvent("event has no type or created")
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise MalformedEvent("event has no data.object")
    return event


# -- the inbox --------------------------------------------------------------------------------
def inbox_table(wh: Warehouse) -> str:
    """`raw.billing__webhook_event`, created if missing."""
    return ensure_raw_table(wh, SOURCE, INBOX_OBJECT)


def stored_event_ids(wh: Warehouse, event_ids: Iterable[str]) -> set[str]:
    """The ids among `event_ids` the inbox holds already."""
    ids = list(dict.fromkeys(event_ids))
    table = inbox_table(wh)
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        found.update(
            r[0]
            for r in wh.fetchall(
                f"select distinct object_id from {table} where object_id in ({marks})", chunk
            )
        )
    return found


def store_events(
    wh: Warehouse, events: Sequence[dict[str, Any]], *, provider_ref: str, run_id: str
) -> int:
    """Land the events whose id the inbox lacks (in the given order); return how many.

    An event already stored (a re-delivery, a duplicate, a replay within the tolerance) stores
    nothing, whatever its payload: the event id is the key.
    """
    known = stored_event_ids(wh, (e["id"] for e in events))
    fresh: dict[str, dict[str, Any]] = {}
    for event in events:
        if event["id"] not in known:
            fresh.setdefault(event["id"], event)
    if not fresh:
        return 0
    records = [RawRecord(eid, provider_ref, event) for eid, event in fresh.items()]
    return land_page(wh, SOURCE, INBOX_OBJECT, records, run_id=run_id).landed


def store_event(wh: Warehouse, event: dict[str, Any], *, provider_ref: str, run_id: str) -> bool:
    """Land one event in the inbox unless its id is there; True if it was stored."""
    return store_events(wh, [event], provider_ref=provider_ref, run_id=run_id) == 1


@dataclass(frozen=True)
class InboxEvent:
    """One inbox event not yet processed: when it arrived, and the event."""

    received_at: datetime
    event_id: str
    payload: dict[str, Any]


def pending_events(
    wh: Warehouse, *, received_since: datetime | None = None, limit: int | None = None
) -> list[InboxEvent]:
    """Inbox events not yet in `raw.billing__event` (processed), oldest arrival first (then
    oldest `created`).

    Reads only (creates nothing: the sensor calls it between runs).

    Args:
        wh: the warehouse.
        received_since: only events that arrived at or after this instant (the sensor's cursor).
        limit: at most this many.
    """
    if not wh.table_exists("raw", f"{SOURCE}__{INBOX_OBJECT}"):
        return []
    where: list[str] = []
    params: list[Any] = []
    if wh.table_exists("raw", f"{SOURCE}__event"):
        where.append(
            f"not exists (select 1 from raw.{SOURCE}__event done"
            " where done.object_id = i.object_id)"
        )
    if received_since is not None:
        where.append("i.extracted_at >= ?")
        params.append(received_since)
    condition = f" where {' and '.join(where)}" if where else ""
    sql = (
        f"select i.extracted_at, i.object_id, cast(i.payload as text)"
        f" from raw.{SOURCE}__{INBOX_OBJECT} i{condition}"
        # arrival order; events that arrived together (a recovery) oldest event first
        " order by i.extracted_at, cast(i.payload ->> 'created' as bigint), i.object_id"
    )
    if limit is not None:
        sql += f" limit {int(limit)}"
    return [InboxEvent(_utc(r[0]), r[1], json.loads(r[2])) for r in wh.fetchall(sql, params)]


def latest_arrival(wh: Warehouse) -> datetime | None:
    """When the newest inbox event arrived (None for an empty or missing inbox). Reads only."""
    if not wh.table_exists("raw", f"{SOURCE}__{INBOX_OBJECT}"):
        return None
    row = wh.fetchone(f"select max(extracted_at) from raw.{SOURCE}__{INBOX_OBJECT}")
    return _utc(row[0]) if row and row[0] is not None else None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# -- counters ---------------------------------------------------------------------------------
def ensure_counter_table(wh: Warehouse) -> None:
    """Create `ops.webhook_intake` if missing."""
    if "ops.webhook_intake" in wh.prepared:
        return
    ensure_ops_tables(wh)
    wh.execute(
        f"create table if not exists {OPS_SCHEMA}.webhook_intake ("
        " outcome text not null, reason text not null, count bigint not null,"
        " last_at timestamptz not null, primary key (outcome, reason))"
    )
    wh.prepared.add("ops.webhook_intake")


def count_outcome(wh: Warehouse, outcome: str, reason: str = "") -> None:
    """Add one to the counter of `outcome` (`stored`, `duplicate`, `refused`) and `reason`."""
    ensure_counter_table(wh)
    wh.execute(
        f"insert into {OPS_SCHEMA}.webhook_intake (outcome, reason, count, last_at)"
        " values (?, ?, 1, ?) on conflict (outcome, reason) do update"
        " set count = webhook_intake.count + 1, last_at = excluded.last_at",
        [outcome, reason, datetime.now(UTC)],
    )


def intake_counts(wh: Warehouse) -> dict[str, dict[str, int]]:
    """`{outcome: {reason: count}}` of every request the intake answered."""
    ensure_counter_table(wh)
    out: dict[str, dict[str, int]] = {}
    for outcome, reason, count in wh.fetchall(
        f"select outcome, reason, count from {OPS_SCHEMA}.webhook_intake"
    ):
        out.setdefault(outcome, {})[reason] = int(count)
    return out
