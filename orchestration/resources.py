"""Dagster resources: how the assets reach the warehouse and the three systems.

Contract:
- Every resource is a `dg.ConfigurableResource`; secrets (API keys, passwords, tokens) come
  through `dg.EnvVar`, so they are read at run time and never stored in run config or logs.
- Resource keys: `warehouse` (`WarehouseResource`), `billing` (`BillingApiResource`),
  `salesforce` (`SalesforceResource`) and `erp` (`ErpResource`); the last two are defined next
  to their assets (`orchestration/assets/salesforce.py`, `erp.py`) and re-exported here.
  `WarehouseResource` has the same shape (`url`, `open()`) as the Salesforce module's
  `LandingWarehouseResource`, so one `warehouse` resource serves every landing asset.
  `build_resources(environment)` returns all of them for an `Environment`
  (`orchestration/environment.py`); pointing at the real services is configuration only
  (the variables of ARCHITECTURE.md's configuration table).
- `WarehouseResource.open()` returns a `q2c.warehouse.Warehouse`; close it when the step is done
  (DuckDB allows one writing process, and dbt opens the same file next).
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import Field

from extractors.billing import BillingClient, BillingCredentials, RetrySettings
from orchestration.environment import Environment
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
        )


def build_resources(environment: Environment) -> dict[str, Any]:
    """Every resource of the code location for `environment`, by resource key.

    Secrets are `dg.EnvVar`s: their values are read from the process environment at run time.
    The Salesforce and ERP resources are the ones defined next to their assets.
    """
    from orchestration.assets.erp import build_erp_resource
    from orchestration.assets.salesforce import build_salesforce_resource

    return {
        "warehouse": WarehouseResource(url=environment.warehouse_url),
        "billing": BillingApiResource(
            api_base=environment.settings.billing_api_base,
            api_key=dg.EnvVar("Q2C_BILLING_API_KEY"),
        ),
        "salesforce": build_salesforce_resource(),
        "erp": build_erp_resource(),
    }


def __getattr__(name: str) -> Any:
    # `SalesforceResource` and `ErpResource` live next to their assets; re-exported lazily here
    # so `orchestration.resources` names every resource class without an import cycle.
    if name == "SalesforceResource":
        from orchestration.assets.salesforce import SalesforceResource

        return SalesforceResource
    if name == "ErpResource":
        from orchestration.assets.erp import ErpResource

        return ErpResource
    raise AttributeError(name)
