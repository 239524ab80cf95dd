"""Compliance gates: which status blocks which action, with the reason and next step to show.

The gates live in the contract (`compliance.gates`); this module evaluates them. A status the
contract does not know is an error, never a silent pass. `connected_account_statuses` derives
the `kyc` and `kyb` statuses from a Stripe connected account (`requirements`,
`individual.verification`, `payouts_enabled`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from q2c.policy.model import Contract


@dataclass(frozen=True)
class GateBlock:
    """One gate that blocks an action, with what to tell the person downstream."""

    gate: str
    check: str
    status: str
    action: str
    reason: str
    next_step: str


@dataclass(frozen=True)
class GateDecision:
    action: str
    blocks: list[GateBlock] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return not self.blocks

    def explain(self) -> str:
        """One line per block: `action blocked by gate (check=status): reason Next: step`."""
        if self.allowed:
            return f"{self.action}: allowed"
        return "\n".join(
            f"{self.action} blocked by {b.gate} ({b.check}={b.status}): {b.reason} "
            f"Next: {b.next_step}"
            for b in self.blocks
        )


#: the status a block shows when the subject has none for the gate's check
NO_STATUS = "no_status"


def evaluate(
    contract: Contract, statuses: Mapping[str, str], action: str, *, subject: str
) -> GateDecision:
    """Evaluate every gate of the contract that applies to `subject` and blocks `action`.

    Fail-closed: a gate whose check has no status in `statuses` blocks (status `no_status`)
    unless the gate says `on_missing: allow`; an outage must never release a payout or
    activate a customer.

    Args:
        contract: the ownership contract.
        statuses: check name -> current status (e.g. {"kyc": "verified", "aml": "clear"}).
        action: one of `compliance.actions`.
        subject: what the statuses belong to (a gate's `applies_to`: `connected_account`,
            `customer`); gates on other subjects do not apply.

    Raises:
        ValueError: an unknown action, check or status.
    """
    comp = contract.compliance
    if action not in comp.actions:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(comp.actions)}")
    for check, status in statuses.items():
        if check not in comp.statuses:
            raise ValueError(f"unknown check {check!r}; known: {', '.join(comp.statuses)}")
        if status not in comp.statuses[check]:
            raise ValueError(
                f"unknown {check} status {status!r}; known: {', '.join(comp.statuses[check])}"
            )
    blocks = []
    for name, g in comp.gates.items():
        if action not in g.blocks or g.applies_to != subject:
            continue
        status = statuses.get(g.check)
        if status is None:
            if g.on_missing == "block":
                blocks.append(
                    GateBlock(
                        name,
                        g.check,
                        NO_STATUS,
                        action,
                        f"No {g.check} status is recorded, so the gate holds (fail-closed). "
                        + g.reason,
                        g.next_step,
                    )
                )
        elif status in g.blocking_statuses:
            blocks.append(GateBlock(name, g.check, status, action, g.reason, g.next_step))
    return GateDecision(action, blocks)


def connected_account_statuses(account: Mapping[str, Any]) -> dict[str, str]:
    """`{"kyc": ..., "kyb": ...}` from a Stripe connected account object.

    `rejected` when Stripe disabled the account as rejected; `requirements_due` when anything
    is currently or past due; `pending` while Stripe is verifying; `verified` once payouts are
    enabled with nothing due. KYB applies to companies; individuals get `verified` for KYB.
    """
    req = account.get("requirements") or {}
    disabled = str(req.get("disabled_reason") or "")
    due = list(req.get("currently_due") or []) + list(req.get("past_due") or [])
    pending = list(req.get("pending_verification") or [])

    def status(prefixes: tuple[str, ...]) -> str:
        mine = [d for d in due if d.startswith(prefixes)]
        if disabled.startswith("rejected"):
            return "rejected"
        if mine:
            return "requirements_due"
        if [p for p in pending if p.startswith(prefixes)]:
            return "pending"
        if not account.get("payouts_enabled"):
            return "requirements_due" if due else "pending"
        return "verified"

    kyc = status(("individual.", "representative.", "person_", "owners.", "directors."))
    kyb = status(("company.", "business_profile.", "external_account", "tos_acceptance."))
    if account.get("business_type") not in ("company", "non_profit", "government_entity"):
        kyb = "verified" if kyc == "verified" else kyb
    return {"kyc": kyc, "kyb": kyb}
