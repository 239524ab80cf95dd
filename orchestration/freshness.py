"""Freshness of the landed copies, from the ownership contract's expected lag.

Each entity of `policy/ownership.yml` says after how long a stale copy is an incident
(`sync.incident_after`); the raw assets of the objects its System of Record names get a Dagster
freshness policy that fails past that lag.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

#: When the contract names no lag for an object: late after two days.
DEFAULT_INCIDENT_AFTER = timedelta(days=2)


def contract_incident_after(source: str, names: list[str]) -> dict[str, timedelta]:
    """How stale each landed object may get before it is an incident, from the contract.

    For every entity whose System of Record lands under `source` (a system with that
    `source`), the `sync.incident_after` applies to the objects that system names for it
    (`transaction(type=Journal)` counts as `transaction`); an object named by several entities
    takes the shortest. Objects the contract does not mention get `DEFAULT_INCIDENT_AFTER`.

    Args:
        source: `salesforce` or `erp`.
        names: the landing object names (`account`, `transactionline`).

    Returns:
        `{landing object name: timedelta}` for every name.
    """
    from q2c.policy.loader import default_contract
    from q2c.policy.model import duration_seconds

    out: dict[str, timedelta] = {}
    try:
        contract = default_contract()
    except Exception:  # a broken contract is `q2c policy check`'s to report, not the loader's
        contract = None
    if contract is not None:
        systems = {n for n, system in contract.systems.items() if system.source == source}
        for entity in contract.entities.values():
            sor = entity.system_of_record
            if not isinstance(sor, str) or sor not in systems or not entity.sync.incident_after:
                continue
            lag = timedelta(seconds=duration_seconds(entity.sync.incident_after))
            value = entity.objects.get(sor, [])
            for obj in [value] if isinstance(value, str) else value:
                name = obj.split("(")[0].strip().lower()
                out[name] = min(lag, out.get(name, lag))
    return {n: out.get(n, DEFAULT_INCIDENT_AFTER) for n in names}


def freshness_policy(incident_after: timedelta) -> dg.FreshnessPolicy:
    """The freshness policy of a raw asset that becomes an incident after `incident_after`."""
    return dg.FreshnessPolicy.time_window(fail_window=incident_after)
