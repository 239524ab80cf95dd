"""Stripe's error envelope: `{"error": {"type", "code", "message", "param"}}` with its status.

Types and statuses as the official SDK maps them to exception classes
(`stripe/_api_requestor.py`, `specific_v1_api_error`): 400/404 `invalid_request_error`
-> `InvalidRequestError` (or `IdempotencyError` for `idempotency_error`), 401
`authentication_error` -> `AuthenticationError`, 429 `rate_limit_error` -> `RateLimitError`,
5xx `api_error` -> `APIError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson


@dataclass
class StripeError(Exception):
    """An error answered in Stripe's envelope.

    Attributes:
        status: the HTTP status.
        type: Stripe's error type (`invalid_request_error`, `api_error`, ...).
        message: a human-readable message (never PII: ids only).
        code: Stripe's machine code (`resource_missing`, `parameter_unknown`, ...).
        param: the request parameter at fault, if any.
        headers: extra response headers (`Stripe-Should-Retry`, ...).
    """

    status: int
    type: str
    message: str
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> bytes:
        """The JSON envelope."""
        error: dict[str, str] = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
        if self.param is not None:
            error["param"] = self.param
        return orjson.dumps({"error": error})


def invalid_request(
    message: str, *, param: str | None = None, code: str | None = None, status: int = 400
) -> StripeError:
    """A 400 (or 404) `invalid_request_error`."""
    return StripeError(status, "invalid_request_error", message, code=code, param=param)


def resource_missing(kind: str, object_id: str, *, param: str | None = "id") -> StripeError:
    """Stripe's 404 for an unknown id: `No such customer: 'cus_x'`."""
    return StripeError(
        404,
        "invalid_request_error",
        f"No such {kind}: '{object_id}'",
        code="resource_missing",
        param=param,
    )


def unknown_parameter(name: str) -> StripeError:
    """Stripe's 400 for a parameter the endpoint does not take."""
    return invalid_request(
        f"Received unknown parameter: {name}", param=name, code="parameter_unknown"
    )


def missing_parameter(name: str) -> StripeError:
    """Stripe's 400 for a required parameter left out."""
    return invalid_request(f"Missing required param: {name}.", param=name, code="parameter_missing")
