"""Run policies every Dagster asset and op of q2c shares: retries, the warehouse pool, tags, and
the one way a systematic error fails a step.

Contract:
- `RETRY`: the `dg.RetryPolicy` of every step that talks to a system or the warehouse (3 retries,
  exponential backoff from 10 s with jitter) for transient failures that outlast the clients'
  own retries.
- `WAREHOUSE_POOL`: the Dagster concurrency pool of every step that writes the warehouse
  (DuckDB takes one writing process; the instance's `dagster.yaml` gives the pool one slot).
- `MODE_TAG` (`q2c/billing_mode`: `incremental`, `full`, or `webhook` = `WEBHOOK_MODE`) and
  `SOURCE_TAG` (`source`) are the run/asset tags the jobs and the CLI use.
- `no_retry(exc)`: the `dg.Failure` a `SystematicError` becomes (retrying cannot help: bad
  credentials, API budget spent, an endpoint or field gone): `allow_retries=False`, the message
  and the operator hint as metadata (never record contents).
- `fail_fast_on_systematic()`: the context manager every step wraps its extract in; it raises
  `no_retry(exc)` for a `SystematicError` and lets everything else (transient) reach the
  `RetryPolicy`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from extractors.errors import SystematicError
from orchestration.log_masking import masked_text

RETRY = dg.RetryPolicy(
    max_retries=3, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
WAREHOUSE_POOL = "warehouse"
MODE_TAG = "q2c/billing_mode"
#: `MODE_TAG` value of the webhook runs: the change log processes the webhook inbox.
WEBHOOK_MODE = "webhook"
SOURCE_TAG = "source"


def no_retry(exc: SystematicError) -> dg.Failure:
    """A failure the RetryPolicy must not repeat: bad credentials, budget, schema gone.

    Transient errors (retries exhausted on rate limits, 5xx, dropped connections) are not
    wrapped, so the step's RetryPolicy runs them again with backoff.
    """
    return dg.Failure(
        description=masked_text(str(exc)),  # the failure event's user data: not logging's
        metadata={"error": type(exc).__name__, "what_to_do": exc.hint},
        allow_retries=False,
    )


@contextmanager
def fail_fast_on_systematic() -> Iterator[None]:
    """Turn a `SystematicError` raised inside into `no_retry(exc)`; let the rest through."""
    try:
        yield
    except SystematicError as exc:
        raise no_retry(exc) from exc
