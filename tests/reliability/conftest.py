"""Fixtures of the reliability suite: tiny worlds (XS, smaller than S) and stand-ins whose
faults each test switches on and the fixture switches off again.

Every test here takes `reliability` (tests/support/reliability.py) and records what it
measured; the session prints the totals at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.erp.faults import DEFAULTS as ERP_DEFAULTS
from sandbox.services import RunningSandbox, start_services

XS_SEED = 7


@pytest.fixture(scope="session")
def world_xs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated XS world (60 accounts, seed 7), once per session; read only."""
    from sandbox import world

    world_dir = tmp_path_factory.mktemp("world_xs")
    world.generate(world_dir, seed=XS_SEED, scale="XS")
    return world_dir


class Faults:
    """Switch a stand-in's faults on and read how often each fired (a delta since `on`)."""

    def __init__(self, sandbox: RunningSandbox) -> None:
        self.sandbox = sandbox
        self._set: dict[str, set[str]] = {}
        self._before: dict[str, dict[str, int]] = {}

    def on(self, service: str, faults: dict[str, Any]) -> None:
        self._before[service] = self._counts(service)
        self.sandbox.set_faults(service, faults)
        self._set.setdefault(service, set()).update(k for k in faults if k != "seed")

    def fired(self, service: str) -> dict[str, int]:
        """Per fault: how often it fired since `on` (the stand-in's own counters)."""
        now, before = self._counts(service), self._before.get(service, {})
        return {k: n - before.get(k, 0) for k, n in now.items() if n - before.get(k, 0) > 0}

    def _counts(self, service: str) -> dict[str, int]:
        base = self.sandbox.control_url(service)
        path = {
            "billing": "/__sandbox/stats",
            "salesforce": "/__sandbox/faults/fired",
            "erp": "/__sandbox/fault-counts",
        }[service]
        kwargs: dict[str, Any] = {"timeout": 30}
        if service == "salesforce":
            kwargs["verify"] = self.sandbox.env["Q2C_SALESFORCE_CA_BUNDLE"]
        body = httpx.get(base + path, **kwargs).json()
        counts = body["fired"] if service == "billing" else body
        return {k: _total(v) for k, v in counts.items()}

    def off(self) -> None:
        for service, names in self._set.items():
            if service == "erp":
                self.sandbox.set_faults("erp", {k: ERP_DEFAULTS[k] for k in names})
            else:
                self.sandbox.set_faults(service, dict.fromkeys(names))
        self._set.clear()


def _total(value: Any) -> int:
    """A fired counter: an int, or per record a dict of ints."""
    if isinstance(value, dict):
        return sum(_total(v) for v in value.values())
    return int(value) if isinstance(value, int | float) else 0


@pytest.fixture(scope="session")
def stand_ins_xs(
    world_xs: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSandbox]:
    """Billing and Salesforce stand-ins over `world_xs` (nothing here writes to them)."""
    with start_services(
        world_xs, None, tmp_path_factory.mktemp("xs_state"), services=("billing", "salesforce")
    ) as sandbox:
        yield sandbox


@pytest.fixture
def faults(stand_ins_xs: RunningSandbox) -> Iterator[Faults]:
    switch = Faults(stand_ins_xs)
    try:
        yield switch
    finally:
        switch.off()
