"""Billing stand-in: a Stripe-compatible HTTP API over a world's `billing.sqlite`.

`create_app(world_dir, faults=None)` is the entry point (INTERFACES.md section 2); see
`app.py` for the routes, `listing.py` for list semantics, `writes.py` for the writes,
`faults.py` for the fault names, and `serve.py` to run it in a background thread.
"""

from sandbox.billing.app import create_app

__all__ = ["create_app"]
