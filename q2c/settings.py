"""Where q2c keeps its state and how it reaches each system: read from the environment once.

Every variable is listed in `.env.example` and in the README. A `.env` file in the working
directory is read first; variables already set in the environment win.

Contract:
- This module is the only one of `q2c/`, `extractors/` and `orchestration/` that reads (or
  sets) environment variables (`tests/unit/test_settings_only_env_reader.py` parses every module
  and fails on any other).
- `load_settings()` is the process's settings: built once per distinct environment (and working
  directory) and cached; `override_settings(settings)` replaces them for a block (tests).
  `load_settings(env)` builds them from `env` alone.
- A child process gets its variables explicitly: `child_environment(values)` is the `env=` for
  `subprocess`; `child_process_environment(values)` sets them for the block only, where a
  library starts the process from `os.environ` itself (dagster-dbt's `DbtCliResource`);
  `export_environment(values)` sets them for the rest of the process (`q2c demo` pointing
  itself at the stand-ins, as `set -a; . FILE` would).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from dotenv import load_dotenv
from pydantic import BaseModel, PrivateAttr, SecretStr

from q2c.warehouse_url import WarehouseUrl

DEFAULT_BILLING_API_BASE = "https://api.stripe.com"
DEFAULT_SALESFORCE_LOGIN_URL = "https://login.salesforce.com"
#: `dbt build` at M (dbt's 4 threads) peaks at 2.8-3.2 GB under 8GB; under 2GB it passed in
#: hand builds (2.1 GB peak) but ran out of memory in a cold `q2c run` at M (11:01 UTC,
#: stg_billing__invoice_lines), so the default leaves it room: bench/RESULTS.md, README "Memory"
DEFAULT_DUCKDB_MEMORY_LIMIT = "8GB"
DEFAULT_DUCKDB_CONNECTION_MEMORY_LIMIT = "128MB"


class Settings(BaseModel):
    """The environment of one q2c process."""

    home: Path
    warehouse_url: str
    dagster_home: Path
    billing_api_base: str = DEFAULT_BILLING_API_BASE
    billing_api_key: str | None = None
    #: pace billing requests under the account's rate limit (`Q2C_BILLING_MAX_RPS`; unset: none)
    billing_max_requests_per_second: float | None = None
    salesforce_login_url: str = DEFAULT_SALESFORCE_LOGIN_URL
    salesforce_client_id: str | None = None
    salesforce_client_secret: str | None = None
    salesforce_username: str | None = None
    salesforce_password: str | None = None
    salesforce_ca_bundle: str | None = None
    erp_base_url: str | None = None
    erp_token: str | None = None
    #: the ownership contract (`Q2C_POLICY_FILE`; None: the repository's `policy/ownership.yml`)
    policy_file: Path | None = None
    #: the VAT number check service (`Q2C_VIES_URL`; None: the EU's VIES REST API)
    vies_url: str | None = None
    #: billing webhook endpoint secrets (`Q2C_BILLING_WEBHOOK_SECRETS`, comma-separated: several
    #: during a rotation); kept out of repr and serialization
    billing_webhook_secrets: tuple[SecretStr, ...] = ()
    #: how far a webhook signature's timestamp may be from now (`Q2C_BILLING_WEBHOOK_TOLERANCE`)
    billing_webhook_tolerance_s: int = 300
    #: where finance notifications are POSTed (`Q2C_NOTIFY_WEBHOOK_URL`; unset: table only)
    notify_webhook_url: str | None = None
    #: days between full rebuilds of the incremental dbt models (`Q2C_DBT_FULL_REFRESH_DAYS`;
    #: 0: every build is full; q2c/dbt_refresh.py)
    dbt_full_refresh_days: int = 7
    #: DuckDB's buffer-pool cap in `dbt build` (`Q2C_DUCKDB_MEMORY_LIMIT`, a DuckDB size; past it
    #: DuckDB spills to `duckdb_temp_directory`): see the README's "Memory"
    duckdb_memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT
    #: the same for q2c's own connections: landing, gates, exports, reports
    #: (`Q2C_DUCKDB_CONNECTION_MEMORY_LIMIT`)
    duckdb_connection_memory_limit: str = DEFAULT_DUCKDB_CONNECTION_MEMORY_LIMIT
    #: DuckDB's worker threads per connection (`Q2C_DUCKDB_THREADS`; unset: one per CPU)
    duckdb_threads: int | None = None
    #: the models `dbt build` runs at once on DuckDB, sharing its memory limit
    #: (`Q2C_DBT_THREADS`): 1 with a 1280MB limit keeps the M build under 1.5 GB
    dbt_duckdb_threads: int = 4
    #: where DuckDB spills (`Q2C_DUCKDB_TEMP_DIRECTORY`; unset: `<warehouse file>.tmp`, DuckDB's
    #: own default)
    duckdb_temp_directory: Path | None = None
    #: the level of dbt's file log (`DBT_LOG_LEVEL_FILE`, dbt's own variable; q2c's default is
    #: `info`: dbt's `debug` writes every query)
    dbt_log_level_file: str = "info"
    # every variable of the environment read, for the names the contract chooses (the masking
    # salt's `salt_env`); private: never printed, never serialized
    _variables: dict[str, str] = PrivateAttr(default_factory=dict)

    def variable(self, name: str) -> str | None:
        """The value of the variable `name` (one whose name the contract chooses), or None."""
        return self._variables.get(name) or None

    def duckdb_config(self, *, dbt: bool = False) -> dict[str, str]:
        """DuckDB's settings of a connection: q2c's own, or with `dbt` the `dbt build` one."""
        limit = self.duckdb_memory_limit if dbt else self.duckdb_connection_memory_limit
        config = {"memory_limit": limit}
        if self.duckdb_threads:
            config["threads"] = str(self.duckdb_threads)
        if self.duckdb_temp_directory is not None:
            config["temp_directory"] = str(self.duckdb_temp_directory)
        return config

    def dbt_duckdb_environment(self) -> dict[str, str]:
        """The variables `dbt_project/profiles.yml` reads for DuckDB's settings in `dbt build`
        (every one set, so the profile's own defaults apply only to a hand-run dbt)."""
        threads = self.duckdb_threads or os.cpu_count() or 1
        temp = self.duckdb_temp_directory
        if temp is None and self.warehouse.path is not None:
            temp = self.warehouse.path.absolute().with_name(self.warehouse.path.name + ".tmp")
        return {
            "Q2C_DUCKDB_MEMORY_LIMIT": self.duckdb_memory_limit,
            "Q2C_DUCKDB_THREADS": str(threads),
            "Q2C_DUCKDB_TEMP_DIRECTORY": str(temp or ".tmp"),
            "Q2C_DBT_THREADS": str(self.dbt_duckdb_threads),
        }

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


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """The process's settings (`.env` plus the process environment; cached, or the override of
    `override_settings`), or with `env` the settings of that mapping alone."""
    if env is not None:
        return _build(dict(env))
    if _override is not None:
        return _override
    _load_dotenv_once()
    # `home` is made absolute from the working directory: it is part of the key
    return _cached(os.getcwd(), tuple(sorted(os.environ.items())))


@lru_cache(maxsize=1)
def _load_dotenv_once() -> None:
    load_dotenv(override=False)


@lru_cache(maxsize=16)
def _cached(cwd: str, items: tuple[tuple[str, str], ...]) -> Settings:
    return _build(dict(items))


def _build(env: dict[str, str]) -> Settings:
    home = Path(env.get("Q2C_HOME", ".q2c")).absolute()
    settings = Settings(
        home=home,
        warehouse_url=env.get("Q2C_WAREHOUSE_URL", f"duckdb:///{home / 'warehouse.duckdb'}"),
        dagster_home=Path(env.get("DAGSTER_HOME", str(home / "dagster"))),
        billing_api_base=env.get("Q2C_BILLING_API_BASE", DEFAULT_BILLING_API_BASE),
        billing_api_key=env.get("Q2C_BILLING_API_KEY"),
        billing_max_requests_per_second=float(env["Q2C_BILLING_MAX_RPS"])
        if env.get("Q2C_BILLING_MAX_RPS")
        else None,
        salesforce_login_url=env.get("Q2C_SALESFORCE_LOGIN_URL", DEFAULT_SALESFORCE_LOGIN_URL),
        salesforce_client_id=env.get("Q2C_SALESFORCE_CLIENT_ID"),
        salesforce_client_secret=env.get("Q2C_SALESFORCE_CLIENT_SECRET"),
        salesforce_username=env.get("Q2C_SALESFORCE_USERNAME"),
        salesforce_password=env.get("Q2C_SALESFORCE_PASSWORD"),
        salesforce_ca_bundle=env.get("Q2C_SALESFORCE_CA_BUNDLE"),
        erp_base_url=env.get("Q2C_ERP_BASE_URL"),
        erp_token=env.get("Q2C_ERP_TOKEN"),
        policy_file=Path(env["Q2C_POLICY_FILE"]) if env.get("Q2C_POLICY_FILE") else None,
        vies_url=env.get("Q2C_VIES_URL") or None,
        billing_webhook_secrets=tuple(
            SecretStr(s.strip())
            for s in env.get("Q2C_BILLING_WEBHOOK_SECRETS", "").split(",")
            if s.strip()
        ),
        billing_webhook_tolerance_s=int(env.get("Q2C_BILLING_WEBHOOK_TOLERANCE") or 300),
        notify_webhook_url=env.get("Q2C_NOTIFY_WEBHOOK_URL") or None,
        dbt_full_refresh_days=int(env.get("Q2C_DBT_FULL_REFRESH_DAYS") or 7),
        duckdb_memory_limit=env.get("Q2C_DUCKDB_MEMORY_LIMIT") or DEFAULT_DUCKDB_MEMORY_LIMIT,
        duckdb_connection_memory_limit=env.get("Q2C_DUCKDB_CONNECTION_MEMORY_LIMIT")
        or DEFAULT_DUCKDB_CONNECTION_MEMORY_LIMIT,
        duckdb_threads=int(env["Q2C_DUCKDB_THREADS"]) if env.get("Q2C_DUCKDB_THREADS") else None,
        dbt_duckdb_threads=int(env.get("Q2C_DBT_THREADS") or 4),
        duckdb_temp_directory=Path(env["Q2C_DUCKDB_TEMP_DIRECTORY"])
        if env.get("Q2C_DUCKDB_TEMP_DIRECTORY")
        else None,
        dbt_log_level_file=env.get("DBT_LOG_LEVEL_FILE") or "info",
    )
    settings._variables = env
    return settings


_override: Settings | None = None


@contextmanager
def override_settings(settings: Settings) -> Iterator[Settings]:
    """`load_settings()` returns `settings` inside the block (every thread), whatever the
    environment says."""
    global _override
    before, _override = _override, settings
    try:
        yield settings
    finally:
        _override = before


@contextmanager
def child_process_environment(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in this process's environment for the block only (restored after), for the child
    processes started inside it.

    dbt reads its profile through `env_var()`, and dagster-dbt's `DbtCliResource.cli` takes no
    environment of its own: it copies `os.environ` into the dbt process and its in-process adapter
    handle (Dagster's maintainers point to a scoped environment for this: dagster-io/dagster
    pull request 29656)."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def child_environment(values: Mapping[str, str]) -> dict[str, str]:
    """The explicit `env=` of a child process (`subprocess.run(..., env=...)`): this process's
    variables plus `values`; this process's own environment is left as it is."""
    return {**os.environ, **values}


def export_environment(values: Mapping[str, str]) -> None:
    """Set `values` in this process's environment from now on (what `set -a; . FILE` does for a
    shell): the settings and the run-time secrets of Dagster's `EnvVar` then read them."""
    os.environ.update(values)
