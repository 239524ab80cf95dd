"""Salesforce failures sorted by what the caller should do about them.

Salesforce reports errors as `[{"message": ..., "errorCode": ...}]` with an HTTP status;
simple-salesforce turns every status >= 300 into a `SalesforceError` subclass and retries none
of them (except `INVALID_SESSION_ID` when it did the login itself, which we do not let it do).
`classify()` maps an exception to one of four actions:

- `RETRY`: transient, back off and try the same request again (`REQUEST_LIMIT_EXCEEDED` for
  concurrency, `UNABLE_TO_LOCK_ROW`, `QUERY_TIMEOUT`, `SERVER_UNAVAILABLE`, any 5xx, 429,
  dropped or reset connections, read timeouts);
- `RELOGIN`: the access token expired (`INVALID_SESSION_ID` / 401): log in again, then retry;
- `FATAL`: retrying cannot help and the run must stop with a message saying what to do
  (bad credentials, daily budget spent, object or field gone, malformed query);
- nothing else: unknown errors are fatal too, with the provider's text kept.

Docs: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
"""

from __future__ import annotations

import enum
from typing import Any

import requests
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceOperationError,
)

from extractors.errors import (
    AuthError,
    BudgetExhaustedError,
    SchemaError,
    SystematicError,
    TransientError,
)

SOURCE = "salesforce"


class SalesforceExtractError(SystematicError):
    """A systematic Salesforce failure: the run stops; `hint` says what to do."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message, source=SOURCE, hint=hint)


class SalesforceAuthError(SalesforceExtractError, AuthError):
    """The login was refused (wrong client id/secret, user, password or login URL)."""


class SalesforceBudgetExhausted(SalesforceExtractError, BudgetExhaustedError):
    """The org's daily API allocation is within the configured reserve: stop before it runs out."""


class SalesforceSchemaError(SalesforceExtractError, SchemaError):
    """An object or field the extract relies on is gone or not visible to the integration user."""


class SalesforceQueryError(SalesforceExtractError):
    """Salesforce rejected a query or failed a Bulk job for a reason a retry cannot fix."""


class SalesforceRetriesExhausted(TransientError):
    """A transient failure (rate limit, 5xx, lock, dropped connection) outlasted the retries;
    the Dagster RetryPolicy may run the step again."""

    def __init__(self, message: str) -> None:
        super().__init__(message, source=SOURCE)


class RecordInvalid(ValueError):
    """One record will not normalize; it is quarantined with this reason and the run goes on."""


class Action(enum.Enum):
    RETRY = "retry"
    RELOGIN = "relogin"
    FATAL = "fatal"


#: Error codes that are worth the same request again after a pause.
TRANSIENT_CODES = frozenset(
    {
        "REQUEST_LIMIT_EXCEEDED",
        "UNABLE_TO_LOCK_ROW",
        "QUERY_TIMEOUT",
        "SERVER_UNAVAILABLE",
        "TXN_SECURITY_METERING_ERROR",
    }
)

#: Error codes that mean the schema changed under us.
SCHEMA_CODES = frozenset({"INVALID_FIELD", "INVALID_TYPE", "NOT_FOUND", "INVALID_QUERY_LOCATOR"})

#: requests' exceptions for a connection that dropped or never answered.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    ConnectionError,
)


def error_codes(exc: BaseException) -> list[tuple[str, str]]:
    """The `(errorCode, message)` pairs of a Salesforce error response, if it carries any.

    Args:
        exc: an exception raised by simple-salesforce or by our Bulk client.

    Returns:
        A list of pairs; empty when the body was not Salesforce's error envelope.
    """
    content: Any = getattr(exc, "content", None)
    items: list[Any]
    if isinstance(content, list):
        items = content
    elif isinstance(content, dict):
        items = [content]
    else:
        return []
    out = []
    for item in items:
        if isinstance(item, dict) and ("errorCode" in item or "error" in item):
            code = str(item.get("errorCode") or item.get("error") or "")
            msg = str(item.get("message") or item.get("error_description") or "")
            out.append((code, msg))
    return out


def is_daily_limit(exc: BaseException) -> bool:
    """True for `REQUEST_LIMIT_EXCEEDED` caused by the 24-hour allocation, not concurrency.

    Salesforce uses the same code for both; the daily one says `TotalRequests Limit exceeded`.
    """
    return any(
        code == "REQUEST_LIMIT_EXCEEDED" and "totalrequests" in msg.lower().replace(" ", "")
        for code, msg in error_codes(exc)
    )


def classify(exc: BaseException) -> Action:
    """Decide what to do about an exception from one Salesforce request.

    Args:
        exc: the exception.

    Returns:
        `Action.RETRY`, `Action.RELOGIN` or `Action.FATAL`.
    """
    if isinstance(exc, CONNECTION_ERRORS):
        return Action.RETRY
    if isinstance(exc, SalesforceError):
        codes = {code for code, _ in error_codes(exc)}
        if isinstance(exc, SalesforceExpiredSession) or "INVALID_SESSION_ID" in codes:
            return Action.RELOGIN
        if is_daily_limit(exc):
            return Action.FATAL
        if codes & TRANSIENT_CODES:
            return Action.RETRY
        status = int(getattr(exc, "status", 0) or 0)
        if status >= 500 or status == 429:
            return Action.RETRY
        return Action.FATAL
    if isinstance(exc, SalesforceOperationError):
        # Bulk job failures simple-salesforce raises as text: a lock or timeout is transient.
        text = str(exc)
        if any(code in text for code in TRANSIENT_CODES):
            return Action.RETRY
        return Action.FATAL
    return Action.FATAL


def explain(exc: BaseException, what: str) -> tuple[str, str]:
    """What failed and why, and what to do, for a fatal error.

    Args:
        exc: the exception that stopped the run.
        what: what we were doing (`"query Account"`).

    Returns:
        `(message, hint)`; neither carries record values.
    """
    codes = error_codes(exc)
    reason = "; ".join(f"{c}: {m}" for c, m in codes) or type(exc).__name__
    status = int(getattr(exc, "status", 0) or 0)
    code_set = {c for c, _ in codes}
    if is_daily_limit(exc):
        hint = (
            "the org's daily API allocation is spent; wait for the rolling 24 h window "
            "or raise the allocation, then rerun (the cursor did not move past landed data)"
        )
    elif code_set & SCHEMA_CODES or status == 404:
        hint = (
            "an object or field is gone or hidden from the integration user: check its "
            "profile/permission set and the objects in policy/ownership.yml"
        )
    elif status == 403:
        hint = "the integration user lacks API access or object permissions: check its profile"
    elif status == 400:
        hint = "Salesforce rejected the query: check the object and field names"
    else:
        hint = "check Salesforce's status page and rerun; the cursor only covers landed rows"
    return f"Salesforce {what} failed ({reason[:500]})", hint
