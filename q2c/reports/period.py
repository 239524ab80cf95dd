"""The report's period: one calendar month, `2026-10`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Period:
    """A calendar month: `start` (inclusive) and `end` (exclusive), naive UTC like the marts."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        """`"2026-10"` -> Period(2026, 10).

        Raises:
            ValueError: anything else than YYYY-MM, with the expected form in the message.
        """
        match = _PERIOD.match(text.strip())
        if not match:
            raise ValueError(f"not a period: {text!r} (use YYYY-MM, e.g. 2026-10)")
        return cls(int(match.group(1)), int(match.group(2)))

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1)

    @property
    def end(self) -> datetime:
        return datetime(self.year + self.month // 12, self.month % 12 + 1, 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"
