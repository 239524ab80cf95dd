"""Incremental staging equals a full rebuild, on DuckDB and on PostgreSQL.

An XS world is loaded and staging built; the world is advanced two days and what changed is
landed through the real landing path (`q2c.landing.land_page`: only versions that differ from
an object's latest are appended, stamped with the landing time), plus a deletion tombstone of a
live customer and, on PostgreSQL, a version landed late (stamped before the last build's newest
row, inside the lookback). After the incremental build every incremental staging table is
compared with a `--full-refresh` build of the same raw tables: EXCEPT ALL both ways must be empty.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from q2c.landing import RawRecord, land_page
from q2c.warehouse import Warehouse
from tests.support.raw_from_world import (
    DBT_PROJECT_DIR,
    DEFAULT_RUN_ID,
    land_world,
    load_raw_from_world,
    run_dbt,
)

pytestmark = pytest.mark.integration

STAGING = ["--select", "path:models/staging"]


@pytest.fixture(scope="module")
def world_xs_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sandbox import world

    path = tmp_path_factory.mktemp("incremental_world_base")
    world.generate(path, seed=7, scale="XS")
    return path


def incremental_models() -> list[str]:
    """The staging models materialized incrementally (those whose file sets a unique_key)."""
    return sorted(
        p.stem
        for p in (DBT_PROJECT_DIR / "models" / "staging").rglob("*.sql")
        if "unique_key=" in p.read_text()
    )


def differences(wh: Warehouse, models: list[str]) -> dict[str, tuple[int, int, int]]:
    """model -> (rows only in the incremental copy, rows only in the full build, rows) where
    the two differ."""
    found = {}
    for model in models:
        only_inc = wh.fetchone(
            f"select count(*) from (select * from inc_copy.{model}"
            f" except all select * from staging.{model}) d"
        )[0]
        only_full = wh.fetchone(
            f"select count(*) from (select * from staging.{model}"
            f" except all select * from inc_copy.{model}) d"
        )[0]
        rows = wh.fetchone(f"select count(*) from staging.{model}")[0]
        if only_inc or only_full:
            found[model] = (only_inc, only_full, rows)
    return found


def scenario(url: str, world_dir: Path, work: Path) -> None:
    models = incremental_models()
    assert "stg_billing__invoices" in models and "stg_billing__customers" in models
    # the initial load is stamped before the landings below (the world's clock may be ahead),
    # one invoice two hours after the others: the lookback then reaches none of the others
    now = datetime.now(UTC)
    load_raw_from_world(world_dir, url, extracted_at=now - timedelta(hours=5))
    with Warehouse.from_url(url) as wh:
        wh.execute(
            "update raw.billing__invoice set extracted_at = ?"
            " where object_id = (select min(object_id) from raw.billing__invoice)",
            [now - timedelta(hours=3)],
        )
    run_dbt(["run", *STAGING], url, work)

    from sandbox import world

    world.advance(world_dir, 2)
    landed = land_world(world_dir, url, run_id="advance-2")
    with Warehouse.from_url(url) as wh:
        # a re-versioned object: an invoice already built lands a new version
        reversioned = wh.fetchone(
            "select count(*) from (select object_id from raw.billing__invoice"
            " group by object_id having count(*) > 1) v"
        )[0]
        # a deletion: the tombstone of a live customer (its payload is only id/object/deleted)
        (customer,) = wh.fetchone(
            "select customer_id from staging.stg_billing__customers where not is_deleted"
            " order by 1 limit 1"
        )
        tombstone = {"id": customer, "object": "customer", "deleted": True}
        land_page(wh, "billing", "customer", [RawRecord(customer, None, tombstone, True)],
                  run_id="delete-1")  # fmt: skip
        # landed late (PostgreSQL: a landing transaction can be open while dbt reads; DuckDB
        # has one writing process, its lookback is 0): a new invoice stamped 10 minutes before
        # the newest row the last build saw, committed after the build read the table
        late = {"id": "in_landed_late"}
        if wh.is_postgres:
            (newest,) = wh.fetchone("select max(extracted_at) from staging.stg_billing__invoices")
            (payload,) = wh.fetchone(
                "select cast(payload as text) from raw.billing__invoice order by object_id limit 1"
            )
            late = {**json.loads(payload), **late}
            wh.execute(
                "insert into raw.billing__invoice (object_id, provider_ref, payload, payload_hash,"
                " is_deleted, extracted_at, run_id) values (?, null, ?, ?, false, ?, 'late')",
                [late["id"], json.dumps(late), "late-hash", newest - timedelta(minutes=10)],
            )
        postgres = wh.is_postgres
        # an invoice nothing landed for since the build: an incremental build leaves its row
        # alone (a marker put in the built row stays), a full build would rewrite it
        (untouched, status) = wh.fetchone(
            "select invoice_id, invoice_status from staging.stg_billing__invoices"
            " where invoice_id not in (select object_id from raw.billing__invoice"
            " where run_id <> ? or extracted_at > ?) order by 1 desc limit 1",
            [DEFAULT_RUN_ID, now - timedelta(hours=4)],
        )
        wh.execute(
            "update staging.stg_billing__invoices set invoice_status = 'marker'"
            " where invoice_id = ?",
            [untouched],
        )
    assert sum(landed.values()) > 0 and reversioned > 0

    run_dbt(["run", *STAGING], url, work)  # incremental
    with Warehouse.from_url(url) as wh:
        assert wh.fetchone(
            "select invoice_status from staging.stg_billing__invoices where invoice_id = ?",
            [untouched],
        ) == ("marker",)
        wh.execute(
            "update staging.stg_billing__invoices set invoice_status = ? where invoice_id = ?",
            [status, untouched],
        )
        deleted = wh.fetchone(
            "select is_deleted, currency is not null from staging.stg_billing__customers"
            " where customer_id = ?",
            [customer],
        )
        assert deleted == (True, True)  # the tombstone keeps the last live payload
        assert wh.fetchone(
            "select count(*) from staging.stg_billing__invoices where invoice_id = ?",
            [late["id"]],
        ) == ((1,) if postgres else (0,))
        wh.execute("drop schema if exists inc_copy cascade")
        wh.execute("create schema inc_copy")
        for model in models:
            wh.execute(f"create table inc_copy.{model} as select * from staging.{model}")
    run_dbt(["run", "--full-refresh", *STAGING], url, work)
    with Warehouse.from_url(url) as wh:
        assert differences(wh, models) == {}


@pytest.fixture
def world_xs_copy(world_xs_base: Path, tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "world"
    shutil.copytree(world_xs_base, path)
    yield path


def test_incremental_staging_equals_full_refresh_duckdb(world_xs_copy: Path, tmp_path: Path):
    scenario(f"duckdb:///{tmp_path / 'wh.duckdb'}", world_xs_copy, tmp_path / "dbt")


@pytest.mark.postgres
def test_incremental_staging_equals_full_refresh_postgres(
    world_xs_copy: Path, postgres_db: str, tmp_path: Path
):
    scenario(postgres_db, world_xs_copy, tmp_path / "dbt")
