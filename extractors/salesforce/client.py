"""A Salesforce connection that survives what the API does to long extracts.

Login is OAuth 2.0 against `<login_url>/services/oauth2/token` with `requests` (client
credentials when no username is configured, else the username-password flow), then
`simple_salesforce.Salesforce(instance_url=..., session_id=...)` over a `requests.Session`
with `trust_env = False` and `verify` set to the configured CA bundle (a stand-in with a private
CA), as /work/shared/reference/salesforce/README.md explains.

simple-salesforce retries nothing once it was handed a session id, so every request goes
through `SalesforceClient.call()`: tenacity retries with jittered exponential backoff what
`errors.classify()` calls transient (rate limits, `UNABLE_TO_LOCK_ROW`, 5xx, dropped
connections), logs in again on `INVALID_SESSION_ID`, and before every request compares the
org's usage from `Sforce-Limit-Info: api-usage=N/M` with the configured reserve, so the run
stops with `SalesforceBudgetExhausted` while other integrations still have API calls left.
Credentials are never logged or put in `repr()`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.util import Usage
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from extractors.salesforce.errors import (
    CONNECTION_ERRORS,
    Action,
    SalesforceAuthError,
    SalesforceBudgetExhausted,
    SalesforceExtractError,
    SalesforceQueryError,
    SalesforceRetriesExhausted,
    SalesforceSchemaError,
    classify,
    error_codes,
    explain,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The Salesforce REST/Bulk API version q2c is written for (its one home): every request goes to
#: `/services/data/v59.0/...`, so a new version arrives only when q2c changes this constant.
DEFAULT_API_VERSION = "59.0"
#: (connect, read) seconds; a Bulk results page of 50,000 rows can take a while to start.
DEFAULT_TIMEOUT = (10.0, 120.0)


@dataclass(frozen=True)
class SalesforceCredentials:
    """Where and as whom to log in. Secrets are excluded from `repr()`."""

    login_url: str
    client_id: str | None = field(default=None, repr=False)
    client_secret: str | None = field(default=None, repr=False)
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None
    api_version: str = DEFAULT_API_VERSION

    @classmethod
    def from_settings(cls, settings: Any) -> SalesforceCredentials:
        """Credentials from `q2c.settings.Settings`."""
        return cls(
            login_url=settings.salesforce_login_url,
            client_id=settings.salesforce_client_id,
            client_secret=settings.salesforce_client_secret,
            username=settings.salesforce_username,
            password=settings.salesforce_password,
            ca_bundle=settings.salesforce_ca_bundle,
        )


@dataclass(frozen=True)
class RetrySettings:
    """How hard to try one request: attempts, and the backoff's base and ceiling in seconds."""

    attempts: int = 8
    base_wait: float = 0.5
    max_wait: float = 30.0


def make_session(ca_bundle: str | None) -> requests.Session:
    """A `requests.Session` that trusts `ca_bundle` (when set) and ignores proxy/CA env vars.

    `REQUESTS_CA_BUNDLE` would otherwise override `session.verify` for every request.
    """
    session = requests.Session()
    session.trust_env = False
    session.verify = ca_bundle or True
    return session


def fetch_token(creds: SalesforceCredentials, session: requests.Session) -> tuple[str, str]:
    """Log in at the OAuth 2.0 token endpoint.

    Args:
        creds: login URL and credentials.
        session: the HTTP session (its `verify` decides which CA is trusted).

    Returns:
        `(access_token, instance_url)`.

    Raises:
        SalesforceAuthError: the endpoint refused the credentials (4xx) or none are configured.
        requests.RequestException: the endpoint could not be reached (the caller retries).
    """
    if not creds.client_id or not creds.client_secret:
        raise SalesforceAuthError(
            "no Salesforce credentials configured",
            "set Q2C_SALESFORCE_CLIENT_ID and Q2C_SALESFORCE_CLIENT_SECRET (and "
            "Q2C_SALESFORCE_USERNAME/PASSWORD for the username-password flow)",
        )
    data = {"client_id": creds.client_id, "client_secret": creds.client_secret}
    if creds.username:
        data |= {
            "grant_type": "password",
            "username": creds.username,
            "password": creds.password or "",
        }
    else:
        data["grant_type"] = "client_credentials"
    url = creds.login_url.rstrip("/") + "/services/oauth2/token"
    response = session.post(url, data=data, timeout=DEFAULT_TIMEOUT)
    if response.status_code >= 500 or response.status_code == 429:
        response.raise_for_status()  # HTTPError is a RequestException: retried
    if response.status_code >= 400:
        try:
            body = response.json()
            reason = f"{body.get('error')}: {body.get('error_description')}"
        except ValueError:
            reason = f"HTTP {response.status_code}"
        raise SalesforceAuthError(
            f"Salesforce login at {url} refused ({reason})",
            "check Q2C_SALESFORCE_CLIENT_ID, Q2C_SALESFORCE_CLIENT_SECRET, "
            "Q2C_SALESFORCE_USERNAME/PASSWORD and Q2C_SALESFORCE_LOGIN_URL",
        )
    body = response.json()
    return body["access_token"], body["instance_url"]


def _retryable(exc: BaseException) -> bool:
    # a certificate or URL problem will not fix itself; a refused or dropped connection may
    if isinstance(exc, requests.exceptions.SSLError | requests.exceptions.InvalidURL):
        return False
    if isinstance(exc, requests.exceptions.MissingSchema):
        return False
    if isinstance(exc, requests.RequestException):
        return True
    return classify(exc) in (Action.RETRY, Action.RELOGIN)


class SalesforceClient:
    """One logged-in Salesforce connection with retries, re-login and an API budget.

    Args:
        creds: where and as whom to log in.
        api_reserve: the fraction of the org's daily allocation to leave untouched (0.10 stops
            at 90% used).
        retry: retry settings (tests shorten the waits).
        sleep: the sleep function tenacity uses (tests may pass a faster one).
    """

    def __init__(
        self,
        creds: SalesforceCredentials,
        *,
        api_reserve: float = 0.10,
        retry: RetrySettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.creds = creds
        self.api_reserve = api_reserve
        self.retry = retry or RetrySettings()
        self._sleep = sleep
        self.session = make_session(creds.ca_bundle)
        self._sf: Salesforce | None = None
        self.requests_made = 0
        self.retries = 0
        self.relogins = 0
        self.usage: Usage | None = None
        self.first_usage: Usage | None = None

    # -- connection ----------------------------------------------------------------------------

    def _retrying(self, what: str) -> Retrying:
        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            self.retries += 1
            codes = ",".join(c for c, _ in error_codes(exc)) if exc else ""
            log.warning(
                "salesforce %s: attempt %d failed (%s %s), retrying",
                what,
                state.attempt_number,
                type(exc).__name__,
                codes,
            )
            if (
                exc is not None
                and not isinstance(exc, CONNECTION_ERRORS)
                and classify(exc) is Action.RELOGIN
            ):
                self.relogins += 1
                self._sf = None  # log in again before the next attempt

        return Retrying(
            retry=retry_if_exception(_retryable),
            wait=wait_random_exponential(multiplier=self.retry.base_wait, max=self.retry.max_wait),
            stop=stop_after_attempt(self.retry.attempts),
            before_sleep=before_sleep,
            sleep=self._sleep,
            reraise=True,
        )

    def _login(self) -> Salesforce:
        token, instance_url = fetch_token(self.creds, self.session)
        return Salesforce(
            instance_url=instance_url,
            session_id=token,
            session=self.session,
            version=self.creds.api_version,
            # exact decimals for currency/double fields, never binary floats
            parse_float=Decimal,
        )

    @property
    def sf(self) -> Salesforce:
        """The simple-salesforce client, logging in first if needed (with retries)."""
        if self._sf is None:
            for attempt in self._retrying("login"):
                with attempt:
                    self._sf = self._login()
        assert self._sf is not None
        return self._sf

    # -- budget ----------------------------------------------------------------------------

    def record_usage(self, usage: Usage | None) -> None:
        """Remember the org's API usage from a response's `Sforce-Limit-Info`."""
        if usage is None:
            return
        self.usage = usage
        if self.first_usage is None:
            self.first_usage = usage

    def check_budget(self) -> None:
        """Stop before the daily allocation's reserve is touched.

        Raises:
            SalesforceBudgetExhausted: usage is at or above `(1 - api_reserve) * total`.
        """
        if self.usage is None or self.usage.total <= 0:
            return
        limit = self.usage.total * (1.0 - self.api_reserve)
        if self.usage.used >= limit:
            raise SalesforceBudgetExhausted(
                f"API budget: {self.usage.used} of {self.usage.total} daily calls used, "
                f"into the {self.api_reserve:.0%} reserve kept for other integrations; the "
                "extract stopped (landed pages are kept and the cursor covers them)",
                "rerun after the rolling 24 h window frees calls, or lower the reserve "
                "(api_reserve) if the org owner agrees",
            )

    @property
    def api_calls_used(self) -> int | None:
        """Calls the org counted between the first and the last response we saw."""
        if self.usage is None or self.first_usage is None:
            return None
        # the first response already counted our first request
        return self.usage.used - self.first_usage.used + 1

    # -- requests --------------------------------------------------------------------------

    def call(self, what: str, fn: Callable[[Salesforce], T]) -> T:
        """Run one request with retries, re-login and the budget check.

        Args:
            what: what the request does, for messages (`"query Account"`).
            fn: the request, given the current `Salesforce` (which changes after a re-login).

        Returns:
            Whatever `fn` returns.

        Raises:
            SalesforceExtractError: a fatal error, or a transient one that outlasted the retries.
        """
        try:
            for attempt in self._retrying(what):
                with attempt:
                    self.check_budget()
                    sf = self.sf
                    self.requests_made += 1
                    try:
                        result = fn(sf)
                    finally:
                        usage = sf.api_usage.get("api-usage")
                        if isinstance(usage, Usage):
                            self.record_usage(usage)
                    return result
        except (SalesforceExtractError, SalesforceRetriesExhausted):
            raise
        except Exception as exc:
            raise self._fatal(exc, what) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _fatal(self, exc: BaseException, what: str) -> Exception:
        codes = {c for c, _ in error_codes(exc)}
        status = int(getattr(exc, "status", 0) or 0)
        message, hint = explain(exc, what)
        if _retryable(exc):
            return SalesforceRetriesExhausted(
                f"{message}: gave up after {self.retry.attempts} attempts"
            )
        if "REQUEST_LIMIT_EXCEEDED" in codes:
            return SalesforceBudgetExhausted(message, hint)
        if codes & {"INVALID_FIELD", "INVALID_TYPE", "NOT_FOUND"} or status == 404:
            return SalesforceSchemaError(message, hint)
        if status in (401, 403):
            return SalesforceAuthError(message, hint)
        return SalesforceQueryError(message, hint)

    def describe(self, sobject: str) -> dict[str, Any]:
        """`GET /sobjects/<sobject>/describe`."""
        return dict(self.call(f"describe {sobject}", lambda sf: getattr(sf, sobject).describe()))

    def query_pages(
        self, soql: str, *, what: str = "query", batch_size: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """REST `queryAll` pages of a SOQL query (deleted and archived rows included).

        Args:
            soql: the query.
            what: what it is for, in messages.
            batch_size: `Sforce-Query-Options: batchSize=N` (200..2,000, a hint to Salesforce).

        Yields:
            Each page's JSON: `totalSize`, `done`, `records` (and `nextRecordsUrl`).
        """
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"} if batch_size else {}
        page = self.call(
            what,
            lambda sf: sf.query(
                soql, include_deleted=True, timeout=DEFAULT_TIMEOUT, headers=dict(headers)
            ),
        )
        while True:
            yield page
            if page.get("done", True):
                return
            next_url = page["nextRecordsUrl"]
            page = self.call(
                what,
                lambda sf, url=next_url: sf.query_more(
                    url, identifier_is_url=True, timeout=DEFAULT_TIMEOUT, headers=dict(headers)
                ),
            )

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()
