"""Payout release: the one write q2c makes to the billing platform.

Connected accounts on a manual payout schedule (`settings.payouts.schedule.interval =
manual` on the landed account object) are paid out when the platform asks: a payout created
on the connected account (`Stripe-Account` header) with an idempotency key. q2c releases it
only when all of these allow it, and records every decision in `ops.audit_trail`:

1. the contract's write set has a billing `payout` target (`writeback.targets`), and its
   rollout flow is in a writing phase (`controlled_writes`, `automation`) with its kill switch
   off (`read_only` records `would_write` and sends nothing; a paused flow records `paused`);
2. no compliance hold applies: `reconciliation.compliance_holds` has no `payout_release` row
   for the account (KYC, KYB, AML, fail-closed on a missing status: `q2c.compliance.holds`),
   and no open review item holds it (`ops.review_items`, flow of the target); a held account
   gets a `held_by_gate` event with every hold's gate, status and reason (once per distinct
   set of reasons), and nothing is sent;
3. at most `max_writes_per_run` payouts per run.

Exactly once: the amount is the connected account's available balance per currency (read from
the platform through `PayoutClient`); each payout to send goes into `ops.payout_outbox`
(idempotency key `q2c-payout-<account>-<currency>-<n>`, n = the account's releases in that
currency so far + 1) before the request; a row left `pending` by a crashed run is sent again
with its stored key first (the platform answers the same payout for the same key and
parameters), so a rerun never pays twice. Refusals (4xx) are recorded (`attempt_failed`) and
the row is `refused`; transient errors leave it `pending` for the next run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from q2c.audit.trail import AuditEvent, existing_keys, record_events
from q2c.compliance.holds import TABLE as HOLDS_TABLE
from q2c.landing import _ddl, latest_versions_sql
from q2c.policy.kill_switch import is_paused
from q2c.policy.model import Contract, WriteTarget
from q2c.warehouse import Warehouse

ACTION = "payout_release"
OUTBOX = "ops.payout_outbox"
ACTOR = "q2c.payout_release"
WRITING_PHASES = ("controlled_writes", "automation")
_COLUMNS = (
    "idempotency_key",
    "flow",
    "account_id",
    "currency",
    "amount",
    "status",
    "payout_id",
    "error",
    "run_id",
    "created_at",
    "updated_at",
)


class PayoutRefusedError(RuntimeError):
    """The platform refused the payout (a 4xx: not retried). `code` is its error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class PayoutTransientError(RuntimeError):
    """The platform did not answer (after the adapter's retries): try again next run."""


class PayoutClient(Protocol):
    """The billing platform's Connect payouts (implemented by `extractors.billing.payouts`)."""

    def available_balance(self, account_id: str) -> dict[str, int]:
        """The connected account's available balance per currency, in minor units."""
        ...

    def create_payout(
        self,
        account_id: str,
        amount: int,
        currency: str,
        *,
        idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> dict[str, Any]:
        """Create a payout on the connected account; the platform's payout object.

        Raises:
            PayoutRefusedError: the platform refused it.
            PayoutTransientError: no answer after retries.
        """
        ...


@dataclass
class ReleaseResult:
    """What one run decided: per account, released / held / refused / would_write."""

    flow: str | None
    phase: str | None
    released: list[dict[str, Any]] = field(default_factory=list)
    held: dict[str, list[str]] = field(default_factory=dict)
    refused: list[dict[str, Any]] = field(default_factory=list)
    would_write: list[dict[str, Any]] = field(default_factory=list)
    pending: int = 0
    #: why nothing was sent at all (no target, phase, kill switch), else None
    stopped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "phase": self.phase,
            "stopped": self.stopped,
            "released": self.released,
            "held": self.held,
            "refused": self.refused,
            "would_write": self.would_write,
            "pending": self.pending,
        }


def payout_target(contract: Contract) -> WriteTarget | None:
    """The contract's write target for billing payouts, if it allows them at all."""
    for t in contract.writeback.targets:
        system = contract.systems.get(t.system)
        if system is not None and system.kind == "billing" and t.object == "payout":
            return t
    return None


def ensure_outbox(wh: Warehouse) -> None:
    if OUTBOX in wh.prepared:
        return
    with _ddl(wh):
        wh.ensure_schema("ops")
        wh.execute(
            f"create table if not exists {OUTBOX} (idempotency_key text primary key,"
            " flow text not null, account_id text not null, currency text not null,"
            " amount bigint not null, status text not null, payout_id text, error text,"
            " run_id text not null, created_at timestamptz not null,"
            " updated_at timestamptz not null)"
        )
    wh.prepared.add(OUTBOX)


def manual_schedule_accounts(wh: Warehouse) -> list[str]:
    """Connected accounts (latest landed version) whose payouts are on a manual schedule."""
    if not wh.table_exists("raw", "billing__account"):
        return []
    out = []
    for object_id, payload in wh.fetchall(
        f"select object_id, payload from ({latest_versions_sql('raw.billing__account')}) as a"
        " where not is_deleted order by object_id"
    ):
        body = payload if isinstance(payload, dict) else json.loads(payload)
        schedule = ((body.get("settings") or {}).get("payouts") or {}).get("schedule") or {}
        if schedule.get("interval") == "manual":
            out.append(str(object_id))
    return out


def payout_holds(wh: Warehouse, flow: str) -> dict[str, list[str]]:
    """Account -> why its payout is held: compliance holds and open review items."""
    held: dict[str, list[str]] = {}
    schema, table = HOLDS_TABLE.split(".")
    if wh.table_exists(schema, table):
        for subject, gate, status, reason in wh.fetchall(
            f"select subject_id, gate, status, reason from {HOLDS_TABLE}"
            " where subject_type = 'connected_account' and action = ?"
            " order by subject_id, gate",
            [ACTION],
        ):
            held.setdefault(str(subject), []).append(f"{gate} ({status}): {reason}")
    if wh.table_exists("ops", "review_items"):
        for subject, review_id, flag in wh.fetchall(
            "select subject_id, review_id, flag from ops.review_items"
            " where flow = ? and status = 'open' order by subject_id, review_id",
            [flow],
        ):
            held.setdefault(str(subject), []).append(
                f"review item {review_id} ({flag}) is open: released only by its resolution"
            )
    return held


def release_payouts(
    wh: Warehouse,
    contract: Contract,
    client: PayoutClient,
    *,
    run_id: str,
    home: Path | None = None,
) -> ReleaseResult:
    """Release what may be released (see the module docstring); every decision audited."""
    target = payout_target(contract)
    if target is None:
        return ReleaseResult(None, None, stopped="the contract's write set has no billing payout")
    spec = contract.rollout.get(target.flow)
    result = ReleaseResult(target.flow, spec.phase if spec else None)
    if spec is None or spec.kind != "write":
        result.stopped = f"rollout has no write flow {target.flow}"
        return result
    ensure_outbox(wh)
    events: list[AuditEvent] = []
    if is_paused(target.flow, home=home):
        result.stopped = f"kill switch: {target.flow} is paused"
        events.append(AuditEvent("paused", run_id, ACTOR, flow=target.flow, detail=result.stopped))
        record_events(wh, events)
        return result
    writing = spec.phase in WRITING_PHASES
    budget = spec.max_writes_per_run or 0
    if writing:
        budget -= _send_pending(wh, client, result, run_id, target.flow)
    holds = payout_holds(wh, target.flow)
    for account in manual_schedule_accounts(wh):
        reasons = holds.get(account)
        if reasons:
            result.held[account] = reasons
            events.append(_held_event(account, reasons, run_id, target.flow))
            continue
        for currency, amount in sorted(client.available_balance(account).items()):
            if amount <= 0:
                continue
            release = {"account_id": account, "currency": currency, "amount": amount}
            if not writing:
                result.would_write.append(release)
                events.append(
                    AuditEvent(
                        "would_write",
                        run_id,
                        ACTOR,
                        flow=target.flow,
                        object_type="account",
                        object_id=account,
                        target_system=target.system,
                        target_object=target.object,
                        match_value=account,
                        after={"amount": amount, "currency": currency},
                        detail=f"phase {spec.phase}: nothing is sent",
                    )
                )
                continue
            if spec.max_writes_per_run and budget <= 0:
                result.pending += 1
                continue
            key = _next_key(wh, account, currency)
            _insert_pending(wh, key, target.flow, release, run_id)
            _send(wh, client, result, key, target.flow, release, run_id)
            budget -= 1
    new = existing_keys(wh, "held_by_gate", [e.idempotency_key or "" for e in events])
    record_events(wh, [e for e in events if e.idempotency_key not in new])
    if not writing:
        result.stopped = f"phase {spec.phase}: payouts are recorded as would_write, not sent"
    return result


def _held_event(account: str, reasons: list[str], run_id: str, flow: str) -> AuditEvent:
    digest = hashlib.sha256("\n".join(reasons).encode()).hexdigest()[:16]
    return AuditEvent(
        "held_by_gate",
        run_id,
        ACTOR,
        flow=flow,
        result="held",
        object_type="account",
        object_id=account,
        target_system="billing",
        target_object="payout",
        match_value=account,
        # one event per account and distinct set of reasons: a rerun adds nothing
        idempotency_key=f"q2c-payout-held-{account}-{digest}",
        detail="; ".join(reasons),
    )


def _next_key(wh: Warehouse, account: str, currency: str) -> str:
    (done,) = wh.fetchall(
        f"select count(*) from {OUTBOX} where account_id = ? and currency = ?",
        [account, currency],
    )[0]
    return f"q2c-payout-{account}-{currency}-{int(done) + 1}"


def _insert_pending(
    wh: Warehouse, key: str, flow: str, release: dict[str, Any], run_id: str
) -> None:
    now = datetime.now(UTC)
    wh.execute(
        f"insert into {OUTBOX} ({', '.join(_COLUMNS)}) values ({', '.join('?' for _ in _COLUMNS)})",
        [
            key,
            flow,
            release["account_id"],
            release["currency"],
            release["amount"],
            "pending",
            None,
            None,
            run_id,
            now,
            now,
        ],
    )


def _send_pending(
    wh: Warehouse, client: PayoutClient, result: ReleaseResult, run_id: str, flow: str
) -> int:
    """Send the rows an earlier run stored and never confirmed, with their own keys."""
    rows = wh.fetchall(
        f"select idempotency_key, account_id, currency, amount from {OUTBOX}"
        " where status = 'pending' and flow = ? order by created_at",
        [flow],
    )
    for key, account, currency, amount in rows:
        release = {"account_id": account, "currency": currency, "amount": int(amount)}
        _send(wh, client, result, key, flow, release, run_id)
    return len(rows)


def _send(
    wh: Warehouse,
    client: PayoutClient,
    result: ReleaseResult,
    key: str,
    flow: str,
    release: dict[str, Any],
    run_id: str,
) -> None:
    account, currency, amount = release["account_id"], release["currency"], release["amount"]
    base = {
        "flow": flow,
        "object_type": "account",
        "object_id": account,
        "target_system": "billing",
        "target_object": "payout",
        "match_value": account,
        "idempotency_key": key,
        "after": {"amount": amount, "currency": currency},
    }
    try:
        payout = client.create_payout(
            # the same parameters on every attempt (the key's request must not change)
            account,
            amount,
            currency,
            idempotency_key=key,
            metadata={"q2c_release": key},
        )
    except PayoutTransientError as exc:
        result.pending += 1
        record_events(
            wh,
            [
                AuditEvent(
                    "attempt_failed", run_id, ACTOR, result="transient", **base, detail=str(exc)
                )
            ],
        )
        return
    except PayoutRefusedError as exc:
        _set_status(wh, key, "refused", None, f"{exc.code}: {exc}")
        result.refused.append({**release, "code": exc.code})
        record_events(
            wh,
            [AuditEvent("attempt_failed", run_id, ACTOR, result=exc.code, **base, detail=str(exc))],
        )
        return
    _set_status(wh, key, "done", str(payout["id"]), None)
    result.released.append({**release, "payout_id": payout["id"], "idempotency_key": key})
    record_events(
        wh,
        [
            AuditEvent(
                "written",
                run_id,
                ACTOR,
                result="ok",
                target_id=str(payout["id"]),
                source_system="billing",
                source_ref=f"billing:account:{account}:balance",
                **base,
            )
        ],
    )


def _set_status(
    wh: Warehouse, key: str, status: str, payout_id: str | None, error: str | None
) -> None:
    wh.execute(
        f"update {OUTBOX} set status = ?, payout_id = ?, error = ?, updated_at = ?"
        " where idempotency_key = ?",
        [status, payout_id, error, datetime.now(UTC), key],
    )
