"""The reliability suite's ledger: what each test measured, summed up at the end of the session.

A test of `tests/reliability/` takes the `reliability` fixture and tells it what it measured:
the fault it switched on and how often the stand-in says it fired, the crash it caused, the bad
input it fed in and what became of it, the rows it expected against the rows that landed, the
writes the stand-ins' journals show. The recorder turns those into counts (rows lost, duplicate
writes) at the moment of measuring, never from a literal, and attaches them to the test's
report (`user_properties`, which pytest-xdist carries from the workers to the controller).
`pytest_terminal_summary` prints the totals: scenarios, faults survived, crashes recovered,
bad inputs tried, rows lost, duplicate writes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import pytest

KEY = "q2c_reliability"


@dataclass
class Measured:
    """What one reliability test measured (kept in its report's `user_properties`)."""

    scenario: str
    faults: dict[str, int] = field(default_factory=dict)
    crashes: list[str] = field(default_factory=list)
    bad_inputs: dict[str, str] = field(default_factory=dict)
    rows_expected: int = 0
    rows_lost: int = 0
    writes: int = 0
    duplicate_writes: int = 0


class Recorder:
    """Handed to a test by the `reliability` fixture; every method returns what it measured."""

    def __init__(self, scenario: str) -> None:
        self.measured = Measured(scenario)

    def fault(self, name: str, fired: int) -> int:
        """A fault the test switched on, with how often the stand-in says it fired (> 0)."""
        assert fired > 0, f"fault {name} never fired: the test proves nothing"
        self.measured.faults[name] = self.measured.faults.get(name, 0) + fired
        return fired

    def crash(self, name: str) -> None:
        """A process the test killed (SIGKILL) or starved, then recovered from."""
        self.measured.crashes.append(name)

    def bad_input(self, name: str, outcome: str) -> None:
        """A bad input the test fed in and the error or quarantine reason it met."""
        assert outcome, f"bad input {name}: no error and no quarantine reason"
        self.measured.bad_inputs[name] = outcome

    def rows(self, expected: Mapping[Hashable, Any], landed: Mapping[Hashable, Any]) -> int:
        """Rows of `expected` (key -> value) missing from `landed` or landed different: lost."""
        lost = sum(1 for k, v in expected.items() if k not in landed or landed[k] != v)
        self.measured.rows_expected += len(expected)
        self.measured.rows_lost += lost
        return lost

    def writes(self, keys: Iterable[Hashable]) -> int:
        """Writes a stand-in's journal shows, by the key that must be written at most once."""
        counts = Counter(keys)
        duplicates = sum(n - 1 for n in counts.values())
        self.measured.writes += sum(counts.values())
        self.measured.duplicate_writes += duplicates
        return duplicates


@pytest.fixture
def reliability(request: pytest.FixtureRequest) -> Iterator[Recorder]:
    """The recorder of this test; what it measured goes into the report at teardown."""
    recorder = Recorder(request.node.nodeid)
    yield recorder
    request.node.user_properties.append((KEY, asdict(recorder.measured)))


class _Totals:
    def __init__(self) -> None:
        self.measured: dict[str, dict[str, Any]] = {}
        self.failed: set[str] = set()


_TOTALS = _Totals()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed:
        _TOTALS.failed.add(report.nodeid)
    for key, value in report.user_properties:
        if key == KEY:
            _TOTALS.measured[report.nodeid] = value


def summary_lines(measured: Mapping[str, Mapping[str, Any]], failed: set[str]) -> list[str]:
    """The end-of-session summary of the reliability tests that recorded something."""
    faults: Counter[str] = Counter()
    crashes: list[str] = []
    bad: dict[str, str] = {}
    expected = lost = writes = duplicates = 0
    for m in measured.values():
        faults.update(m["faults"])
        crashes += m["crashes"]
        bad.update(m["bad_inputs"])
        expected += m["rows_expected"]
        lost += m["rows_lost"]
        writes += m["writes"]
        duplicates += m["duplicate_writes"]
    passed = len(set(measured) - failed)
    return [
        f"scenarios: {len(measured)} ({passed} passed, {len(measured) - passed} failed)",
        f"faults survived: {len(faults)} kinds, {sum(faults.values())} injected"
        + (f" ({', '.join(f'{k} x{n}' for k, n in sorted(faults.items()))})" if faults else ""),
        f"crashes recovered: {len(crashes)}" + (f" ({', '.join(crashes)})" if crashes else ""),
        f"bad inputs tried: {len(bad)}" + (f" ({', '.join(sorted(bad))})" if bad else ""),
        f"rows checked against the world: {expected}",
        f"rows lost: {lost} (must be 0)",
        f"writes checked in the stand-ins' journals: {writes}",
        f"duplicate writes: {duplicates} (must be 0)",
    ]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _TOTALS.measured:
        return
    terminalreporter.section("q2c reliability")
    for line in summary_lines(_TOTALS.measured, _TOTALS.failed):
        terminalreporter.write_line(line)
