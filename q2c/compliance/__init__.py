"""Compliance: VAT number validation (stdnum + VIES) and the contract's compliance gates.

`check_vat(number, country, vies)` -> `VatCheck`; `evaluate(contract, statuses, action,
subject=...)` ->
`GateDecision` with the blocking gates, their reasons and next steps. VIES is reached through
the `ViesChecker` protocol, implemented by `extractors.vies`.
"""

from q2c.compliance.gates import GateBlock, GateDecision, connected_account_statuses, evaluate
from q2c.compliance.vat import (
    VAT_STATUSES,
    VatCheck,
    ViesAnswer,
    ViesChecker,
    ViesRejectedError,
    ViesUnavailableError,
    check_vat,
)

__all__ = [
    "VAT_STATUSES",
    "GateBlock",
    "GateDecision",
    "VatCheck",
    "ViesAnswer",
    "ViesChecker",
    "ViesRejectedError",
    "ViesUnavailableError",
    "check_vat",
    "connected_account_statuses",
    "evaluate",
]
