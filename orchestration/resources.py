"""Dagster resources: how the assets reach the warehouse and the three systems.

Contract:
- Every resource is a `dg.ConfigurableResource`; secrets (API keys, passwords, tokens) come
  through `dg.EnvVar`, so they are read at run time and never stored in run config or logs.
- Resource keys: `warehouse` (`WarehouseResource`), `billing` (`BillingApiResource`),
  `salesforce` (`SalesforceResource`) and `erp` (`ErpResource`), all defined here with their
  builders (`build_salesforce_resource(settings)`, `build_erp_resource(settings)`); one
  `warehouse` resource serves every landing asset.
  `build_resources(environment)` returns all of them for an `Environment`
  (`orchestration/environment.py`); pointing at the real services is configuration only
  (the variables of ARCHITECTURE.md's configuration table).
- `WarehouseResource.open()` returns a `q2c.warehouse.Warehouse`; close it when the step is done
  (DuckDB allows one writing process, and dbt opens the same file next).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dagster as dg
from pydantic import Field

from extractors.billing import BillingClient, BillingCredentials, BillingExtractor, RetrySettings
from extractors.erp import ErpCredentials, ErpExtractor, SuiteQLClient
from extractors.salesforce import RetrySettings as SalesforceRetrySettings
from extractors.salesforce import (
    SalesforceClient,
    SalesforceCredentials,
    SalesforceExtractor,
)
from extractors.salesforce.client import DEFAULT_API_VERSION
from extractors.salesforce.extract import DEFAULT_BULK_THRESHOLD
from orchestration.environment import Environment
from q2c.settings import Settings, load_settings
from q2c.warehouse import Warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse raw tables land in: `duckdb:///<path>` or `postgresql://...`."""

    url: str = Field(description="Warehouse URL (Q2C_WAREHOUSE_URL).")

    def open(self) -> Warehouse:
        """Open the warehouse; use as a context manager so the connection is released."""
        return Warehouse.from_url(self.url)


class BillingApiResource(dg.ConfigurableResource):
    """The billing API (Stripe or the local stand-in) and how hard to pull from it."""

    api_base: str = Field(
        default="https://api.stripe.com", description="API root (Q2C_BILLING_API_BASE)."
    )
    api_key: str = Field(description="Secret or restricted key (Q2C_BILLING_API_KEY).")
    overlap_seconds: int = Field(
        default=3_600, description="How far before each cursor a `created` window re-reads."
    )
    event_overlap_seconds: int = Field(
        default=3_600, description="How far before the event cursor the events are re-read."
    )
    batch_size: int = Field(default=2_000, description="Records per landing transaction.")
    sdk_max_network_retries: int = Field(
        default=2, description="Retries inside the stripe SDK (429 with Stripe-Should-Retry, 5xx)."
    )
    retry_attempts: int = Field(default=6, description="Attempts around each request.")
    retry_wait_initial: float = 0.5
    retry_wait_max: float = 20.0
    timeout_seconds: float = Field(default=30.0, description="Per-request timeout.")
    max_requests_per_second: float | None = Field(
        default=None,
        description=(
            "Pace requests under the account's rate limit (Q2C_BILLING_MAX_RPS; Stripe allows "
            "about 100/s in live mode, 25/s in test mode); unset: no pacing."
        ),
    )

    def extractor(self, wh: Warehouse, run_id: str) -> BillingExtractor:
        """A billing extractor with its own client; use it as a context manager."""
        return BillingExtractor(
            self.client(),
            wh,
            run_id=run_id,
            overlap_seconds=self.overlap_seconds,
            event_overlap_seconds=self.event_overlap_seconds,
            batch_size=self.batch_size,
        )

    def client(self) -> BillingClient:
        """A billing API client through the official stripe SDK."""
        return BillingClient(
            BillingCredentials(api_base=self.api_base, api_key=self.api_key),
            RetrySettings(
                sdk_max_network_retries=self.sdk_max_network_retries,
                attempts=self.retry_attempts,
                wait_initial=self.retry_wait_initial,
                wait_max=self.retry_wait_max,
                timeout=self.timeout_seconds,
            ),
            max_requests_per_second=self.max_requests_per_second,
        )


class SalesforceResource(dg.ConfigurableResource):
    """How to reach Salesforce and how hard to pull. Secrets come through `dg.EnvVar`."""

    login_url: str = "https://login.salesforce.com"
    client_id: str | None = None
    client_secret: str | None = None
    username: str | None = None
    password: str | None = None
    ca_bundle: str | None = None
    api_version: str = DEFAULT_API_VERSION
    api_reserve: float = Field(
        default=0.10, description="Share of the org's daily API allocation left untouched."
    )
    bulk_threshold: int = Field(
        default=DEFAULT_BULK_THRESHOLD,
        description="Above this many rows an incremental pull switches to Bulk API 2.0.",
    )
    overlap_minutes: float = Field(
        default=5.0, description="How far before the cursor the incremental re-reads."
    )
    retry_base_wait: float = 0.5
    retry_max_wait: float = 30.0
    retry_attempts: int = 8

    def credentials(self) -> SalesforceCredentials:
        """The extractor's credentials."""
        return SalesforceCredentials(
            login_url=self.login_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            username=self.username,
            password=self.password,
            ca_bundle=self.ca_bundle,
            api_version=self.api_version,
        )

    def extractor(self, wh: Warehouse, run_id: str) -> SalesforceExtractor:
        """A Salesforce extractor with its own client; use it as a context manager."""
        return SalesforceExtractor(
            self.client(),
            wh,
            run_id=run_id,
            overlap=timedelta(minutes=self.overlap_minutes),
            bulk_threshold=self.bulk_threshold,
        )

    def client(self) -> SalesforceClient:
        """A fresh connection (log in happens on the first request)."""
        return SalesforceClient(
            self.credentials(),
            api_reserve=self.api_reserve,
            retry=SalesforceRetrySettings(
                attempts=self.retry_attempts,
                base_wait=self.retry_base_wait,
                max_wait=self.retry_max_wait,
            ),
        )


def _secret(value: str | None, name: str) -> Any:
    # a configured secret is resolved at run time from the environment, never stored in config;
    # an unset optional one stays None (client credentials need no username)
    return dg.EnvVar(name) if value else None


def build_salesforce_resource(settings: Settings | None = None) -> SalesforceResource:
    """The `salesforce` resource from the settings (ARCHITECTURE.md's configuration table).

    Args:
        settings: the process settings (default: `q2c.settings.load_settings()`).
    """
    settings = settings or load_settings()
    return SalesforceResource(
        login_url=settings.salesforce_login_url,
        client_id=_secret(settings.salesforce_client_id, "Q2C_SALESFORCE_CLIENT_ID"),
        client_secret=_secret(settings.salesforce_client_secret, "Q2C_SALESFORCE_CLIENT_SECRET"),
        username=_secret(settings.salesforce_username, "Q2C_SALESFORCE_USERNAME"),
        password=_secret(settings.salesforce_password, "Q2C_SALESFORCE_PASSWORD"),
        ca_bundle=settings.salesforce_ca_bundle,
    )


class ErpResource(dg.ConfigurableResource):
    """How to reach the ERP's SuiteQL endpoint. The token comes through `dg.EnvVar`."""

    base_url: str
    token: str
    page_size: int = Field(default=1000, description="SuiteQL `limit` per request (max 1,000).")
    overlap_minutes: float = Field(
        default=24 * 60.0,
        description="How far before the cursor incremental reads start (late commits).",
    )
    retry_base_wait: float = 0.5
    retry_max_wait: float = 30.0
    retry_attempts: int = 8

    def extractor(self, wh: Warehouse, run_id: str) -> ErpExtractor:
        """An ERP extractor with its own client; use it as a context manager."""
        return ErpExtractor(
            self.client(), wh, run_id=run_id, overlap=timedelta(minutes=self.overlap_minutes)
        )

    def client(self) -> SuiteQLClient:
        """A SuiteQL client (close it when done)."""
        return SuiteQLClient(
            ErpCredentials(base_url=self.base_url, token=self.token),
            page_size=self.page_size,
            attempts=self.retry_attempts,
            base_wait=self.retry_base_wait,
            max_wait=self.retry_max_wait,
        )


def build_erp_resource(settings: Settings | None = None) -> ErpResource:
    """The `erp` resource: `Q2C_ERP_BASE_URL` from the settings, the token via `dg.EnvVar`.

    Args:
        settings: the process settings (default: `q2c.settings.load_settings()`).
    """
    settings = settings or load_settings()
    return ErpResource(base_url=settings.erp_base_url or "", token=dg.EnvVar("Q2C_ERP_TOKEN"))


def build_resources(environment: Environment) -> dict[str, Any]:
    """Every resource of the code location for `environment`, by resource key.

    Secrets are `dg.EnvVar`s: their values are read from the process environment at run time.
    """
    return {
        "warehouse": WarehouseResource(url=environment.warehouse_url),
        "billing": BillingApiResource(
            api_base=environment.settings.billing_api_base,
            api_key=dg.EnvVar("Q2C_BILLING_API_KEY"),
            max_requests_per_second=environment.settings.billing_max_requests_per_second,
        ),
        "salesforce": build_salesforce_resource(environment.settings),
        "erp": build_erp_resource(environment.settings),
    }
