"""The billing API client: the official `stripe` SDK, with retries and our error hierarchy.

Contract:
- Requests go through `stripe.StripeClient(api_key, base_addresses={"api": api_base})` and its
  `raw_request`, which keeps the SDK's auth, headers, API version, and its own retries
  (`max_network_retries`: 429 when `Stripe-Should-Retry` says so, 409, 5xx, connection errors)
  but skips building a `StripeObject` per record (about 7x faster when paging; see
  /work/shared/reference/limits-and-semantics.md). Bodies come back as plain dicts.
- On top of the SDK, tenacity retries `rate_limit_error`, `api_error` (5xx) and connection
  errors with exponential backoff and jitter; when those run out, `TransientError` is raised.
- 401/403 raise `AuthError` with what to do; a list endpoint answering 404 raises `SchemaError`;
  a 200 whose body is not JSON (after retries) raises `PageError` with the raw bytes.
- `api_calls` counts the requests this client made (the SDK's internal retries not included);
  `counting(tally)` also counts the requests and retries of the current thread into `tally`
  (one `CallTally` per listed object when several are read at once).
- The client may be used from several threads at once (the SDK keeps a session per thread);
  `RequestPacer` keeps all of them together under one rate.
- `list_pages(path, params)` pages with `limit=100` and `starting_after`, yielding one page
  (a list of dicts) at a time, newest first as the API returns them; nothing is accumulated.
- Every request carries `Stripe-Version: STRIPE_API_VERSION` (this module is its one home): the
  object shapes `extractors/billing` normalizes are that version's, so a new Stripe version (or
  a newer stripe SDK's default) arrives only when q2c changes this constant.

Docs: https://docs.stripe.com/api/pagination, https://docs.stripe.com/error-handling,
https://docs.stripe.com/rate-limits.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import stripe
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from extractors.errors import AuthError, PageError, SchemaError, TransientError

try:  # orjson parses several times faster; the result is the same dicts, lists and numbers
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover - the lock file installs it
    _orjson_loads = None


def _json_loads(body: str | bytes) -> Any:
    if _orjson_loads is not None:
        try:
            return _orjson_loads(body)
        except (ValueError, TypeError):
            pass  # e.g. an integer beyond 64 bits: the standard library takes it
    return json.loads(body)


SOURCE = "billing"
PAGE_LIMIT = 100  # Stripe's maximum `limit` for list endpoints

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BillingCredentials:
    """Where the billing API lives and the secret key to read it with.

    The key is kept out of `repr` so it never reaches a log line.
    """

    api_base: str
    api_key: str

    def __repr__(self) -> str:
        return f"BillingCredentials(api_base={self.api_base!r}, api_key='***')"


@dataclass(frozen=True)
class RetrySettings:
    """How hard to retry: SDK retries per request, then tenacity attempts around it."""

    sdk_max_network_retries: int = 2
    attempts: int = 6
    wait_initial: float = 0.5
    wait_max: float = 20.0
    #: seconds to connect and to read one response (the SDK's default is 80)
    timeout: float = 30.0


#: The Stripe API version q2c is written for (https://docs.stripe.com/api/versioning): every
#: request pins it, whatever the account's default or the SDK's own pin.
STRIPE_API_VERSION = "2023-08-16"


def make_stripe_client(creds: BillingCredentials, retry: RetrySettings) -> stripe.StripeClient:
    """Map our credentials to the official SDK client (the one place that does so)."""
    if not creds.api_key:
        raise AuthError(
            "no billing API key configured",
            source=SOURCE,
            hint="set Q2C_BILLING_API_KEY to a secret or restricted key with read access",
        )
    return stripe.StripeClient(
        creds.api_key,
        base_addresses={"api": creds.api_base.rstrip("/")},
        stripe_version=STRIPE_API_VERSION,
        max_network_retries=retry.sdk_max_network_retries,
        http_client=stripe.RequestsClient(timeout=retry.timeout),
    )


class RequestPacer:
    """Spaces requests to at most `per_second` a second across every thread of one client.

    The billing platform refuses requests over its rate (about 100 a second in live mode, 25 in
    test mode) with 429s; backing off after each 429 wastes more time than never meeting it.
    Each request takes the next free slot (`1 / per_second` after the previous one) and sleeps
    until it. None or 0: no pacing (the stand-in without provider limits)."""

    def __init__(
        self,
        per_second: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_second = per_second
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.per_second:
            return
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + 1.0 / self.per_second
        if slot > now:
            self._sleep(slot - now)


@dataclass
class CallTally:
    """Requests and retries made on behalf of one piece of work (e.g. one listed object)."""

    calls: int = 0
    retries: int = 0


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, stripe.RateLimitError | stripe.APIConnectionError):
        return True
    if isinstance(exc, stripe.APIError):
        # 5xx, or a 2xx body that would not parse (a truncated transfer): both worth a retry.
        return True
    return isinstance(exc, stripe.InvalidRequestError) and (exc.http_status or 0) == 409


class BillingClient:
    """Reads the billing API; counts its calls.

    Args:
        creds: API base and key.
        retry: retry settings (tests shorten the waits).
        stripe_client: an already built SDK client (optional; built from `creds` otherwise).
        max_requests_per_second: pace every request under the account's rate limit (None: no
            pacing); see `RequestPacer`.
    """

    def __init__(
        self,
        creds: BillingCredentials,
        retry: RetrySettings | None = None,
        stripe_client: stripe.StripeClient | None = None,
        max_requests_per_second: float | None = None,
    ) -> None:
        self.creds = creds
        self.pacer = RequestPacer(max_requests_per_second)
        self.retry = retry or RetrySettings()
        self._stripe = stripe_client or make_stripe_client(creds, self.retry)
        self.api_calls = 0
        self.retries = 0
        # Children of a page (the balance transactions of each payout) are fetched from a few
        # threads at once; the counters are shared.
        self._count_lock = threading.Lock()
        self._local = threading.local()

    @contextmanager
    def counting(self, tally: CallTally) -> Iterator[CallTally]:
        """Count this thread's requests and retries into `tally` too, until the block ends."""
        previous = getattr(self._local, "tally", None)
        self._local.tally = tally
        try:
            yield tally
        finally:
            self._local.tally = previous

    def _request_once(self, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        self.pacer.wait()
        tally = getattr(self._local, "tally", None)
        with self._count_lock:
            self.api_calls += 1
            if tally is not None:
                tally.calls += 1
        requestor = getattr(self._stripe, "_requestor", None)
        if requestor is None or not hasattr(requestor, "request_raw"):
            response = self._stripe.raw_request("get", path, **params)
            return self._as_object(path, response.data, response.body)
        # The SDK's requestor (auth, headers, API version, its own retries), but the body parsed
        # once into plain dicts: `raw_request` parses every page into OrderedDicts, which was a
        # fifth of the extraction's time.
        rbody, rcode, rheaders = requestor.request_raw(
            "get", path, params=dict(params), options={}, base_address="api", api_mode="V1"
        )
        if not 200 <= rcode < 300:
            requestor._interpret_response(rbody, rcode, rheaders, "V1")  # raises the SDK error
        try:
            data = _json_loads(rbody)
        except ValueError as exc:
            raise stripe.APIError(
                f"Invalid response body from API (HTTP {rcode})",
                http_body=rbody,
                http_status=rcode,
                headers=rheaders,
            ) from exc
        return self._as_object(path, data, rbody)

    @staticmethod
    def _as_object(path: str, data: Any, body: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise PageError(
                f"response of {path} is not a JSON object",
                raw=body if isinstance(body, str | bytes) else str(body),
                source=SOURCE,
                object_name=path,
            )
        return data

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET `path` (e.g. `/v1/invoices`) with query `params`; return the JSON body as a dict.

        Raises:
            AuthError: 401/403; the message says which key to fix.
            SchemaError: 404 on a list endpoint (the endpoint is gone).
            PageError: a 2xx body that is not JSON, after retries.
            TransientError: rate limits, 5xx or connection errors outlasted every retry.
            stripe.InvalidRequestError: any other 4xx (e.g. 404 for a single object); the
                caller decides (a retrieve of a deleted object answers 404).
        """
        params = dict(params or {})

        def before_sleep(state: Any) -> None:
            tally = getattr(self._local, "tally", None)
            with self._count_lock:
                self.retries += 1
                if tally is not None:
                    tally.retries += 1
            exc = state.outcome.exception() if state.outcome else None
            log.warning("billing %s: %s, retry %d", path, type(exc).__name__, state.attempt_number)

        retrying = Retrying(
            retry=retry_if_exception(_is_transient),
            stop=stop_after_attempt(self.retry.attempts),
            wait=wait_random_exponential(
                multiplier=self.retry.wait_initial, max=self.retry.wait_max
            ),
            before_sleep=before_sleep,
            reraise=False,
        )
        try:
            return retrying(self._request_once, path, params)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            if isinstance(last, stripe.APIError) and (last.http_status or 500) < 500:
                body = last.http_body if last.http_body is not None else ""
                raise PageError(
                    f"response of {path} would not parse after {self.retry.attempts} attempts",
                    raw=body,
                    source=SOURCE,
                    object_name=path,
                ) from last
            raise TransientError(
                f"{path}: {type(last).__name__} after {self.retry.attempts} attempts "
                f"(HTTP {getattr(last, 'http_status', None)})",
                source=SOURCE,
            ) from last
        except (stripe.AuthenticationError, stripe.PermissionError) as exc:
            raise AuthError(
                f"the billing API refused the key (HTTP {exc.http_status}) on {path}",
                source=SOURCE,
                hint=(
                    "check Q2C_BILLING_API_KEY (a live or test secret key, or a restricted key "
                    "with read access to this resource) and Q2C_BILLING_API_BASE"
                ),
            ) from exc
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404 and path.count("/") == 2:
                raise SchemaError(
                    f"list endpoint {path} answered 404",
                    source=SOURCE,
                    hint=(
                        "check Q2C_BILLING_API_BASE points at the billing API root (no /v1) "
                        "and that this API serves the endpoint"
                    ),
                ) from exc
            raise

    def list_pages(
        self, path: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield the pages of a list endpoint, newest first, following `starting_after`."""
        query: dict[str, Any] = {"limit": PAGE_LIMIT, **(params or {})}
        while True:
            body = self.get(path, query)
            data = body.get("data")
            if body.get("object") != "list" or not isinstance(data, list):
                raise PageError(
                    f"{path} did not answer a list object",
                    raw=json.dumps(body, default=str),
                    source=SOURCE,
                    object_name=path,
                )
            yield data
            if not body.get("has_more") or not data:
                return
            last_id = data[-1].get("id") if isinstance(data[-1], dict) else None
            if not last_id:
                raise PageError(
                    f"{path}: last record of a page has no id to continue from",
                    raw=json.dumps(data[-1], default=str),
                    source=SOURCE,
                    object_name=path,
                )
            query = {**query, "starting_after": last_id}
