"""`q2c demo`: the README's first command."""

from __future__ import annotations


def demo() -> None:
    """Generate the S world, start the sandbox, run every asset, print where the outputs are."""
    raise SystemExit("the demo is wired up in a later change")
