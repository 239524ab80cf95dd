"""The errors every extractor raises, so the orchestration treats all sources alike.

Contract:
- `TransientError`: worth retrying as is (rate limit, 5xx, dropped connection, row lock). The
  extractors retry these with backoff themselves; one that escapes means retries ran out, and the
  Dagster `RetryPolicy` may try the whole step again.
- `SystematicError`: retrying will not help (bad credentials, API budget spent, an object or
  field gone from the provider). The run fails; `hint` tells the operator what to do.
  Subclasses: `AuthError`, `BudgetExhaustedError`, `SchemaError`.
- `RecordError` / `PageError`: one record (or one page) that fails validation or will not parse.
  They carry the raw text so the caller can quarantine it (`q2c.landing.quarantine`), count it,
  and go on with the run.

Every message names the source and never includes record contents (they may hold PII).
"""

from __future__ import annotations


class ExtractError(Exception):
    """Base of every extractor error.

    Args:
        message: what went wrong (no PII).
        source: `billing`, `salesforce` or `erp`.
    """

    def __init__(self, message: str, *, source: str) -> None:
        super().__init__(f"[{source}] {message}")
        self.source = source


class TransientError(ExtractError):
    """A failure that may pass on a retry: rate limit, 5xx, timeout, dropped connection."""


class SystematicError(ExtractError):
    """A failure that fails the run; `hint` says what the operator should do."""

    def __init__(self, message: str, *, source: str, hint: str) -> None:
        super().__init__(f"{message}. What to do: {hint}", source=source)
        self.hint = hint


class AuthError(SystematicError):
    """The provider refused the credentials (401/403, invalid key or session that cannot renew)."""


class BudgetExhaustedError(SystematicError):
    """The provider's API budget is spent (or would be by this run)."""


class SchemaError(SystematicError):
    """An object, endpoint or field the extractor relies on is gone or changed shape."""


class RecordError(ExtractError):
    """One record failed validation; quarantine `raw` with `reason` and go on.

    Args:
        reason: why the record was refused (field names, never values).
        raw: the record as received (JSON text or bytes).
        source: the source system.
        object_name: the object the record was listed as.
    """

    def __init__(self, reason: str, *, raw: str | bytes, source: str, object_name: str) -> None:
        super().__init__(f"{object_name}: {reason}", source=source)
        self.reason = reason
        self.raw = raw
        self.object_name = object_name


class PageError(RecordError):
    """A whole page (response body) would not parse; quarantine `raw` and stop that listing."""
