"""Where q2c keeps its state and how it reaches each system: read from the environment once.

Every variable is listed in `.env.example` and in the README. A `.env` file in the working
directory is read first; variables already set in the environment win.
"""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import load_dotenv
from pydantic import BaseModel

from q2c.warehouse import WarehouseUrl

DEFAULT_BILLING_API_BASE = "https://api.stripe.com"
DEFAULT_SALESFORCE_LOGIN_URL = "https://login.salesforce.com"


class Settings(BaseModel):
    """The environment of one q2c process."""

    home: Path
    warehouse_url: str
    dagster_home: Path
    billing_api_base: str = DEFAULT_BILLING_API_BASE
    billing_api_key: str | None = None
    salesforce_login_url: str = DEFAULT_SALESFORCE_LOGIN_URL
    salesforce_client_id: str | None = None
    salesforce_client_secret: str | None = None
    salesforce_username: str | None = None
    salesforce_password: str | None = None
    salesforce_ca_bundle: str | None = None
    erp_base_url: str | None = None
    erp_token: str | None = None

    @property
    def warehouse(self) -> WarehouseUrl:
        """The parsed warehouse URL (`ValueError` for an unsupported one)."""
        return WarehouseUrl.parse(self.warehouse_url)

    @property
    def is_postgres(self) -> bool:
        return self.warehouse.is_postgres

    @property
    def duckdb_path(self) -> Path:
        """The DuckDB file named by `duckdb:///<path>` (relative paths are from the cwd)."""
        if self.warehouse.path is None:
            raise ValueError("the warehouse is PostgreSQL, not DuckDB")
        return self.warehouse.path


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Build the settings from `env` (default: `.env` plus the process environment)."""
    if env is None:
        load_dotenv(override=False)
        env = dict(os.environ)
    home = Path(env.get("Q2C_HOME", ".q2c")).absolute()
    return Settings(
        home=home,
        warehouse_url=env.get("Q2C_WAREHOUSE_URL", f"duckdb:///{home / 'warehouse.duckdb'}"),
        dagster_home=Path(env.get("DAGSTER_HOME", str(home / "dagster"))),
        billing_api_base=env.get("Q2C_BILLING_API_BASE", DEFAULT_BILLING_API_BASE),
        billing_api_key=env.get("Q2C_BILLING_API_KEY"),
        salesforce_login_url=env.get("Q2C_SALESFORCE_LOGIN_URL", DEFAULT_SALESFORCE_LOGIN_URL),
        salesforce_client_id=env.get("Q2C_SALESFORCE_CLIENT_ID"),
        salesforce_client_secret=env.get("Q2C_SALESFORCE_CLIENT_SECRET"),
        salesforce_username=env.get("Q2C_SALESFORCE_USERNAME"),
        salesforce_password=env.get("Q2C_SALESFORCE_PASSWORD"),
        salesforce_ca_bundle=env.get("Q2C_SALESFORCE_CA_BUNDLE"),
        erp_base_url=env.get("Q2C_ERP_BASE_URL"),
        erp_token=env.get("Q2C_ERP_TOKEN"),
    )
