"""Decides where q2c runs: local (DuckDB) or prod (PostgreSQL), and the dbt target.

Contract:
- `current_environment()` reads the settings once (`q2c.settings.load_settings`: `.env` plus the
  process environment) and returns an `Environment`: `Q2C_WAREHOUSE_URL` naming PostgreSQL means
  `prod` with dbt target `postgres`; a DuckDB URL (the default, under `.q2c/`) means `local` with
  dbt target `duckdb`.
- Nothing else in `orchestration/` reads environment variables to make that decision; secrets
  reach resources through `dg.EnvVar` (see `orchestration/resources.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from q2c.settings import Settings, load_settings

EnvironmentName = Literal["local", "prod"]


@dataclass(frozen=True)
class Environment:
    """Where this process runs.

    Attributes:
        name: `local` (DuckDB file, one writer) or `prod` (PostgreSQL).
        warehouse_url: the warehouse URL every resource uses.
        dbt_target: the `profiles.yml` target (`duckdb` or `postgres`).
        dagster_home: the Dagster instance directory.
        settings: the full settings the decision was made from.
    """

    name: EnvironmentName
    warehouse_url: str
    dbt_target: Literal["duckdb", "postgres"]
    dagster_home: Path
    settings: Settings

    @property
    def single_writer(self) -> bool:
        """DuckDB takes one writing process: warehouse steps must run one at a time."""
        return self.dbt_target == "duckdb"


def environment_from_settings(settings: Settings) -> Environment:
    """Decide local/prod and the dbt target from the warehouse URL of `settings`."""
    try:
        url = settings.warehouse
    except ValueError as exc:
        raise ValueError(f"Q2C_WAREHOUSE_URL: {exc}") from exc
    if url.is_postgres:
        return Environment(
            "prod", settings.warehouse_url, "postgres", settings.dagster_home, settings
        )
    return Environment("local", settings.warehouse_url, "duckdb", settings.dagster_home, settings)


def current_environment(env: dict[str, str] | None = None) -> Environment:
    """The environment of this process (or of `env`, for tests)."""
    return environment_from_settings(load_settings(env))
