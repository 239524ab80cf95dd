"""The ownership contract (`policy/ownership.yml`): load, validate, check, compile, kill switches.

Every layer reads the contract through this package: `load_contract()` / `default_contract()`
return a validated `Contract`; invalid files raise `ContractError` whose issues carry file,
line, what is wrong and how to fix it. Kill switches: `pause(flow)`, `resume(flow)`,
`is_paused(flow)`.
"""

from q2c.policy.errors import ContractError, ContractIssue
from q2c.policy.kill_switch import is_paused, may_write, pause, paused_flows, resume
from q2c.policy.loader import contract_path, default_contract, load_contract
from q2c.policy.model import CHANNELS, PHASES, Contract

__all__ = [
    "CHANNELS",
    "PHASES",
    "Contract",
    "ContractError",
    "ContractIssue",
    "contract_path",
    "default_contract",
    "is_paused",
    "load_contract",
    "may_write",
    "pause",
    "paused_flows",
    "resume",
]
