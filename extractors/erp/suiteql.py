"""A SuiteQL client: paging, retries and NetSuite's error envelope.

Protocol (NetSuite REST "Executing SuiteQL Queries Through REST Web Services"):
`POST {base}/services/rest/query/v1/suiteql?limit=N&offset=M` with `Prefer: transient`, a Bearer
token and body `{"q": "SELECT ..."}`; the answer is `{"items": [...], "hasMore": bool, "count",
"offset", "totalResults", "links"}`. `limit` is at most 1,000 and `offset + limit` at most
100,000, so `query_pages` stops at that window and reports where it stopped; the extractor then
restarts the query from the last key it saw (keyset restart).

Errors come as `{"type", "title", "status", "o:errorDetails": [{"detail", "o:errorCode"}]}`.
Retried with tenacity (jittered exponential backoff, `Retry-After` honoured as a floor): 429
(`CONCURRENCY_LIMIT_EXCEEDED`), 5xx, timeouts and dropped connections, and a 401 up to twice
(a token refused once may be a blip; three refusals in a row are an `AuthError`). A 400 is a
query the ERP will not run (a table or column gone): `SchemaError`. The token is never logged.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from extractors.errors import AuthError, SchemaError, SystematicError, TransientError

log = logging.getLogger(__name__)

SOURCE = "erp"
SUITEQL_PATH = "/services/rest/query/v1/suiteql"
MAX_LIMIT = 1000
#: NetSuite refuses offset + limit beyond 100,000 rows of one query.
MAX_WINDOW = 100_000


@dataclass(frozen=True)
class ErpCredentials:
    """The ERP's REST base URL and token (excluded from `repr()`)."""

    base_url: str
    token: str = field(repr=False)

    @classmethod
    def from_settings(cls, settings: Any) -> ErpCredentials:
        """Credentials from `q2c.settings.Settings`.

        Raises:
            AuthError: `Q2C_ERP_BASE_URL` or `Q2C_ERP_TOKEN` is not set.
        """
        if not settings.erp_base_url or not settings.erp_token:
            raise AuthError(
                "no ERP endpoint configured",
                source=SOURCE,
                hint="set Q2C_ERP_BASE_URL and Q2C_ERP_TOKEN (q2c sandbox up --json prints them)",
            )
        return cls(base_url=settings.erp_base_url, token=settings.erp_token)


class ErpHTTPError(Exception):
    """One failed SuiteQL request, with NetSuite's error codes (no row data)."""

    def __init__(self, status: int, codes: list[str], detail: str, retry_after: float) -> None:
        super().__init__(f"HTTP {status} {','.join(codes)}: {detail}")
        self.status = status
        self.codes = codes
        self.detail = detail
        self.retry_after = retry_after


class UnexpectedBody(ValueError):
    """The response was not SuiteQL's JSON envelope (cut short or garbled): retried."""


def parse_error(response: httpx.Response) -> ErpHTTPError:
    """NetSuite's error envelope as an `ErpHTTPError`."""
    codes: list[str] = []
    detail = response.reason_phrase or ""
    try:
        body = response.json()
        details = body.get("o:errorDetails") or []
        codes = [str(d.get("o:errorCode")) for d in details if d.get("o:errorCode")]
        detail = "; ".join(str(d.get("detail", "")) for d in details) or str(body.get("title"))
    except (ValueError, AttributeError):
        pass
    try:
        retry_after = float(response.headers.get("Retry-After", "0"))
    except ValueError:
        retry_after = 0.0
    return ErpHTTPError(response.status_code, codes, detail[:500], retry_after)


def is_transient(exc: BaseException) -> bool:
    """True for what a retry may fix: 429, 5xx, transport errors, a cut-short body."""
    if isinstance(exc, httpx.TransportError | UnexpectedBody):
        return True
    if isinstance(exc, ErpHTTPError):
        return exc.status == 429 or exc.status >= 500 or exc.status == 401
    return False


def backoff_wait(state: RetryCallState, base_wait: float, max_wait: float) -> float:
    """Jittered exponential backoff with the ERP's `Retry-After` as its floor (every ERP client
    of q2c waits this way: SuiteQL and the REST record service)."""
    backoff = wait_random_exponential(multiplier=base_wait, max=max_wait)(state)
    exc = state.outcome.exception() if state.outcome else None
    floor = exc.retry_after if isinstance(exc, ErpHTTPError) else 0.0
    return max(backoff, min(floor, max_wait))


def next_offset(page: dict[str, Any], offset: int, limit: int) -> int | None:
    """Where the next page starts, or None when the listing is complete.

    Uses `hasMore`; the next offset is the current one plus the rows this page returned (a page
    may be shorter than the limit), falling back to `limit` if the page says nothing.
    """
    if not page.get("hasMore"):
        return None
    count = page.get("count")
    step = int(count) if isinstance(count, int) and count > 0 else len(page.get("items") or [])
    return offset + (step or limit)


@dataclass
class PageWindow:
    """Tells `query_pages`' caller whether the 100,000-row window cut the listing short."""

    exhausted: bool = False


class SuiteQLClient:
    """SuiteQL over httpx with retries.

    Args:
        creds: base URL and token.
        page_size: `limit` per request (at most 1,000).
        attempts: tries per request.
        base_wait: backoff multiplier in seconds.
        max_wait: backoff ceiling in seconds.
        timeout: per-request timeout in seconds.
        sleep: the sleep function (tests may shorten waits).
        max_window: rows one query may page through (NetSuite: 100,000; tests use less).
    """

    def __init__(
        self,
        creds: ErpCredentials,
        *,
        page_size: int = MAX_LIMIT,
        attempts: int = 8,
        base_wait: float = 0.5,
        max_wait: float = 30.0,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        max_window: int = MAX_WINDOW,
    ) -> None:
        if not 1 <= page_size <= MAX_LIMIT:
            raise ValueError(f"page_size must be 1..{MAX_LIMIT}")
        if not 1 <= max_window <= MAX_WINDOW:
            raise ValueError(f"max_window must be 1..{MAX_WINDOW}")
        self.max_window = max_window
        self.page_size = page_size
        self.attempts = attempts
        self.base_wait = base_wait
        self.max_wait = max_wait
        self._sleep = sleep
        self.requests_made = 0
        self.retries = 0
        self._unauthorized = 0
        self.http = httpx.Client(
            base_url=creds.base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {creds.token}",
                "Prefer": "transient",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            timeout=timeout,
        )

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.http.close()

    def _wait(self, state: RetryCallState) -> float:
        return backoff_wait(state, self.base_wait, self.max_wait)

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        self.retries += 1
        if isinstance(exc, ErpHTTPError) and exc.status == 401:
            self._unauthorized += 1
            if self._unauthorized > 2:
                raise AuthError(
                    "the ERP refused the token three times in a row",
                    source=SOURCE,
                    hint="renew Q2C_ERP_TOKEN (integration token or OAuth 2.0 client "
                    "credentials) and check the integration role's SuiteQL permission",
                ) from exc
        log.warning(
            "erp suiteql: attempt %d failed (%s), retrying",
            state.attempt_number,
            type(exc).__name__ if not isinstance(exc, ErpHTTPError) else exc.status,
        )

    def _post(self, query: str, offset: int, limit: int) -> dict[str, Any]:
        self.requests_made += 1
        response = self.http.post(
            SUITEQL_PATH,
            params={"limit": limit, "offset": offset},
            content=json.dumps({"q": query}),
        )
        if response.status_code >= 300:
            raise parse_error(response)
        try:
            body = response.json()
        except ValueError as exc:
            raise UnexpectedBody("SuiteQL answered a body that is not JSON") from exc
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise UnexpectedBody("SuiteQL answered JSON without an items list")
        self._unauthorized = 0
        return body

    def fetch(self, query: str, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
        """One page of a query, with retries.

        Raises:
            AuthError: the token was refused twice.
            SchemaError: the ERP refused the query (400): a table or column is gone.
            TransientError: a transient failure outlasted the retries.
            SystematicError: any other refusal.
        """
        limit = limit or self.page_size
        try:
            for attempt in Retrying(
                retry=retry_if_exception(is_transient),
                wait=self._wait,
                stop=stop_after_attempt(self.attempts),
                before_sleep=self._before_sleep,
                sleep=self._sleep,
                reraise=True,
            ):
                with attempt:
                    return self._post(query, offset, limit)
        except ErpHTTPError as exc:
            raise self._fatal(exc) from exc
        except (httpx.TransportError, UnexpectedBody) as exc:
            raise TransientError(
                f"SuiteQL request failed after {self.attempts} attempts ({type(exc).__name__})",
                source=SOURCE,
            ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _fatal(self, exc: ErpHTTPError) -> Exception:
        if exc.status == 401 or exc.status == 403:
            return AuthError(
                f"the ERP refused the request ({exc})",
                source=SOURCE,
                hint="renew Q2C_ERP_TOKEN and check the integration role's SuiteQL permission",
            )
        if exc.status == 400:
            return SchemaError(
                f"the ERP refused the query ({exc})",
                source=SOURCE,
                hint="a table or column the extract reads is gone or not visible to the "
                "integration role; check the role and extractors/erp/tables.py",
            )
        if is_transient(exc):
            return TransientError(
                f"SuiteQL kept failing after {self.attempts} attempts ({exc})", source=SOURCE
            )
        return SystematicError(
            f"SuiteQL request failed ({exc})", source=SOURCE, hint="check the ERP and rerun"
        )

    def query_pages(
        self, query: str, window: PageWindow | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """The items of a query, page by page, following `hasMore`/offset.

        Args:
            query: the SuiteQL text (ordered by a key, so pages are stable).
            window: set to `exhausted=True` when the listing reached the row window
                (`self.max_window`, NetSuite's 100,000): NetSuite answers `hasMore: false`
                there even when more rows match, so reaching it means "maybe more"; the caller
                restarts from its last key.

        Yields:
            Each page's `items`.
        """
        offset = 0
        while True:
            limit = min(self.page_size, self.max_window - offset)
            page = self.fetch(query, offset, limit)
            items = page["items"]
            yield items
            reached = offset + len(items) >= self.max_window
            nxt = next_offset(page, offset, limit)
            if reached or (nxt is not None and nxt >= self.max_window):
                if window is not None:
                    window.exhausted = True
                return
            if nxt is None:
                return
            offset = nxt
