"""How late each landed copy may be, from the ownership contract, and what that asks of Dagster.

Each entity of `policy/ownership.yml` says how late its copy is expected to be
(`sync.expected_lag`) and after how long a stale copy is an incident (`sync.incident_after`);
both apply to the objects its System of Record names. The raw assets get a Dagster freshness
policy that fails past `incident_after`, and `orchestration/jobs.py` schedules each of them at
least as often as `expected_lag` (`cadence_for`: the longest of `CADENCES` no longer than it),
so the policy holds by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import dagster as dg

#: When the contract names no lag for an object: expected within a day, late after two days.
DEFAULT_EXPECTED_LAG = timedelta(days=1)
DEFAULT_INCIDENT_AFTER = timedelta(days=2)


@dataclass(frozen=True)
class Lag:
    """How late one landed object may be: expected, and before it is an incident."""

    expected: timedelta = DEFAULT_EXPECTED_LAG
    incident_after: timedelta = DEFAULT_INCIDENT_AFTER

    def describe(self) -> str:
        """`expected within 5m, an incident after 1h` (for asset descriptions)."""
        expected, incident = _span(self.expected), _span(self.incident_after)
        return f"expected within {expected}, an incident after {incident}"

    def tightest(self, other: Lag) -> Lag:
        """The stricter of two lags (an object named by several entities)."""
        return Lag(
            min(self.expected, other.expected), min(self.incident_after, other.incident_after)
        )


def _span(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def contract_lags(source: str, names: list[str]) -> dict[str, Lag]:
    """How late each landed object of `source` may be, from the contract.

    For every entity whose System of Record lands under `source` (a system with that `source`),
    `sync.expected_lag` and `sync.incident_after` apply to the objects that system names for it
    (`transaction(type=Journal)` counts as `transaction`); an object named by several entities
    takes the strictest. Objects the contract does not mention get the defaults.

    Args:
        source: `billing`, `salesforce` or `erp`.
        names: the landing object names (`account`, `transactionline`).

    Returns:
        `{landing object name: Lag}` for every name.
    """
    from q2c.policy.loader import default_contract
    from q2c.policy.model import duration_seconds

    out: dict[str, Lag] = {}
    try:
        contract = default_contract()
    except Exception:  # a broken contract is `q2c policy check`'s to report, not the loader's
        contract = None
    if contract is not None:
        systems = {n for n, system in contract.systems.items() if system.source == source}
        for entity in contract.entities.values():
            sor, sync = entity.system_of_record, entity.sync
            if not isinstance(sor, str) or sor not in systems:
                continue
            if not (sync.incident_after or sync.expected_lag):
                continue
            lag = Lag(
                timedelta(seconds=duration_seconds(sync.expected_lag))
                if sync.expected_lag
                else DEFAULT_EXPECTED_LAG,
                timedelta(seconds=duration_seconds(sync.incident_after))
                if sync.incident_after
                else DEFAULT_INCIDENT_AFTER,
            )
            value = entity.objects.get(sor, [])
            for obj in [value] if isinstance(value, str) else value:
                name = obj.split("(")[0].strip().lower()
                out[name] = out[name].tightest(lag) if name in out else lag
    return {n: out.get(n, Lag()) for n in names}


def contract_incident_after(source: str, names: list[str]) -> dict[str, timedelta]:
    """How stale each landed object may get before it is an incident (see `contract_lags`)."""
    return {n: lag.incident_after for n, lag in contract_lags(source, names).items()}


def freshness_policy(incident_after: timedelta) -> dg.FreshnessPolicy:
    """The freshness policy of a raw asset that becomes an incident after `incident_after`."""
    return dg.FreshnessPolicy.time_window(fail_window=incident_after)


@dataclass(frozen=True)
class Cadence:
    """How often a job runs: its interval, the cron that realizes it (UTC), and a name."""

    interval: timedelta
    cron: str
    name: str


CADENCES: tuple[Cadence, ...] = (
    Cadence(timedelta(minutes=5), "*/5 * * * *", "every_5_minutes"),
    Cadence(timedelta(minutes=15), "*/15 * * * *", "every_15_minutes"),
    Cadence(timedelta(hours=1), "0 * * * *", "hourly"),
    Cadence(timedelta(days=1), "0 2 * * *", "daily"),
)


def cadence_for(lag: Lag) -> Cadence:
    """The longest cadence no longer than `lag.expected` (the shortest when all are longer)."""
    fitting = [c for c in CADENCES if c.interval <= lag.expected]
    return max(fitting, key=lambda c: c.interval) if fitting else CADENCES[0]
