"""The simulated Quote-to-Cash world: a generator of a coherent company across billing
(Stripe-shaped), CRM (Salesforce-shaped) and ERP (NetSuite-shaped) systems, with injected
discrepancies recorded in a ground truth.

The files it writes are the contract in docs/INTERFACES.md section 1:

- `generate(world_dir, seed=7, scale="S", now=DEFAULT_NOW) -> WorldSummary` writes 24 months
  of history up to `now`;
- `advance(world_dir, days) -> AdvanceSummary` adds the activity of the next `days` days and
  moves the clock, recording every change in `truth.changes`.

Same `(seed, scale, now)` (and the same sequence of `advance` calls) gives the same bytes.
"""

from sandbox.world.advance import AdvanceSummary, advance
from sandbox.world.config import DEFAULT_NOW, SCALES, Scale
from sandbox.world.generate import WorldSummary, generate

__all__ = [
    "DEFAULT_NOW",
    "SCALES",
    "AdvanceSummary",
    "Scale",
    "WorldSummary",
    "advance",
    "generate",
]
