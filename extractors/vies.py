"""The VIES adapter: `HttpViesChecker` implements `q2c.compliance.vat.ViesChecker` over HTTP.

Contract:
- `POST {base_url}/check-vat-number` with JSON `{"countryCode": "DE", "vatNumber": "136695976"}`,
  as the EU Commission's VIES REST API
  (https://ec.europa.eu/taxation_customs/vies/rest-api/check-vat-number) and the sandbox
  stand-in at `$Q2C_VIES_URL` answer it: `{"countryCode", "vatNumber", "requestDate", "valid",
  "name", "address"}`.
- Errors come as `{"actionSucceed": false, "errorWrappers": [{"error": CODE, "message"}]}`.
  `MS_UNAVAILABLE`, `MS_MAX_CONCURRENT_REQ`, `GLOBAL_MAX_CONCURRENT_REQ`, `SERVICE_UNAVAILABLE`,
  `TIMEOUT` and `SERVER_BUSY`, HTTP 429/5xx and connection errors are retried with tenacity
  (exponential backoff with jitter); when retries run out, `ViesUnavailableError` is raised and
  the VAT status is `vies_unavailable` (the gate blocks and the check is retried later).
  `INVALID_INPUT` (or another 4xx) raises `ViesRejectedError` at once.
- A 200 without a boolean `valid` is an error, never read as valid.
- Nothing of the answer is logged (VIES returns the trader's name and address).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from q2c.compliance.vat import ViesAnswer, ViesRejectedError, ViesUnavailableError
from q2c.settings import load_settings

DEFAULT_VIES_URL = "https://ec.europa.eu/taxation_customs/vies/rest-api"
RETRYABLE_CODES = frozenset(
    {
        "MS_UNAVAILABLE",
        "MS_MAX_CONCURRENT_REQ",
        "GLOBAL_MAX_CONCURRENT_REQ",
        "SERVICE_UNAVAILABLE",
        "TIMEOUT",
        "SERVER_BUSY",
    }
)


class _Retryable(Exception):
    """One attempt failed in a way worth retrying."""


def _error_code(body: Any) -> str | None:
    if isinstance(body, dict) and body.get("actionSucceed") is False:
        wrappers = body.get("errorWrappers") or [{}]
        return str(wrappers[0].get("error") or "UNKNOWN")
    return None


class HttpViesChecker:
    """Ask VIES (or its stand-in) whether a VAT number is registered.

    Args:
        base_url: the REST base, without the trailing `/check-vat-number`.
        timeout: seconds to connect and to read one answer.
        attempts: tries per number before `ViesUnavailableError`.
        wait_initial: first backoff in seconds (doubles, with jitter, up to `wait_max`).
        wait_max: the longest backoff.
        client: an `httpx.Client` to use (default: one owned by this checker).
        sleep: the sleep function between retries (tests may pass a faster one).
    """

    def __init__(
        self,
        base_url: str = DEFAULT_VIES_URL,
        *,
        timeout: float = 10.0,
        attempts: int = 4,
        wait_initial: float = 0.5,
        wait_max: float = 8.0,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/check-vat-number"
        self.attempts = attempts
        self.wait_initial = wait_initial
        self.wait_max = wait_max
        self._client = client or httpx.Client(timeout=timeout)
        self._owns_client = client is None
        self._sleep = sleep
        self.requests = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> HttpViesChecker:
        """The checker for `$Q2C_VIES_URL` (the EU's VIES REST API when unset)."""
        return cls(load_settings(env).vies_url or DEFAULT_VIES_URL, **kwargs)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> HttpViesChecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check(self, country_code: str, vat_number: str) -> ViesAnswer:
        """VIES's answer for one number.

        Raises:
            ViesUnavailableError: no usable answer after `attempts` tries.
            ViesRejectedError: VIES rejected the input (not retried).
        """
        kwargs: dict[str, Any] = {}
        if self._sleep is not None:
            kwargs["sleep"] = self._sleep
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_random_exponential(multiplier=self.wait_initial, max=self.wait_max),
            retry=retry_if_exception_type(_Retryable),
            reraise=False,
            **kwargs,
        )
        try:
            return retrying(self._once, country_code, vat_number)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            raise ViesUnavailableError(
                f"VIES gave no answer for a {country_code} number after {self.attempts} "
                f"attempts ({last})"
            ) from None

    def _once(self, country_code: str, vat_number: str) -> ViesAnswer:
        self.requests += 1
        try:
            response = self._client.post(
                self.url, json={"countryCode": country_code, "vatNumber": vat_number}
            )
        except httpx.TransportError as exc:
            raise _Retryable(f"{type(exc).__name__}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        code = _error_code(body)
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(f"HTTP {response.status_code} {code or ''}".strip())
        if code in RETRYABLE_CODES:
            raise _Retryable(code)
        if code is not None or response.status_code >= 400:
            raise ViesRejectedError(f"HTTP {response.status_code} {code or 'error'}")
        if not isinstance(body, dict) or not isinstance(body.get("valid"), bool):
            raise _Retryable(f"HTTP {response.status_code} without a boolean 'valid'")
        return ViesAnswer(
            country_code=str(body.get("countryCode") or country_code),
            vat_number=str(body.get("vatNumber") or vat_number),
            valid=body["valid"],
            request_date=str(body.get("requestDate") or ""),
            name=body.get("name"),
            address=body.get("address"),
        )
