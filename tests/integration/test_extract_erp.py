"""The ERP extractor against the ERP stand-in (real HTTP, real SuiteQL subset, real DuckDB).

The world is the tiny hand-written ERP world of tests/support/sandbox.py (this test owns and
edits it); what landed is compared row by row with the world's own rows, normalized as the
landing contract says (tests/support/raw_from_world.py), by payload hash.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from extractors.erp import ErpCredentials, ErpExtractor, SuiteQLClient
from extractors.erp.tables import TABLES, object_id
from extractors.errors import AuthError, SchemaError
from q2c.landing import get_cursor
from q2c.warehouse import Warehouse
from tests.support.raw_from_world import make_row, normalize_erp_row
from tests.support.sandbox import build_tiny_erp_world

pytestmark = pytest.mark.integration

TABLES_READ = list(TABLES)  # every table the extractor reads, payment-application links included


@pytest.fixture
def erp(tmp_path: Path) -> Iterator[tuple[object, Path]]:
    from sandbox.services import start_services

    world = build_tiny_erp_world(tmp_path / "world", customers=30, invoices=250)
    sandbox = start_services(world, None, tmp_path / "state", services=("erp",))
    try:
        yield sandbox, world
    finally:
        sandbox.stop()


def client(sandbox, **kw) -> SuiteQLClient:
    env = sandbox.env
    kw.setdefault("base_wait", 0.01)
    kw.setdefault("max_wait", 0.05)
    return SuiteQLClient(ErpCredentials(env["Q2C_ERP_BASE_URL"], env["Q2C_ERP_TOKEN"]), **kw)


def world_rows(world: Path, table: str) -> dict[str, str]:
    """object_id -> payload hash of the world's rows, normalized as the landing contract says."""
    con = sqlite3.connect(world / "erp.sqlite")
    con.row_factory = sqlite3.Row
    cols = ", ".join(f'"{c}"' for c in TABLES[table].columns)
    out = {}
    for r in con.execute(f'SELECT {cols} FROM "{table}"'):
        payload = normalize_erp_row(r)
        oid = object_id(TABLES[table], payload)
        out[oid] = make_row(oid, None, payload, False).payload_hash
    con.close()
    return out


def landed_latest(wh: Warehouse, table: str) -> dict[str, str]:
    rows = wh.fetchall(
        f"select object_id, payload_hash from raw.erp__{table}"
        " qualify row_number() over (partition by object_id order by extracted_at desc) = 1"
    )
    return dict(rows)


def truth_count(world: Path, table: str) -> int:
    con = sqlite3.connect(world / "truth.sqlite")
    (n,) = con.execute("select n from counts where system='erp' and object=?", (table,)).fetchone()
    con.close()
    return n


def run_all(sandbox, wh: Warehouse, run_id: str, **kw) -> dict[str, object]:
    c = client(sandbox, **kw)
    try:
        ex = ErpExtractor(c, wh, run_id=run_id)
        return {t: ex.extract(t) for t in TABLES_READ}
    finally:
        c.close()


def test_first_run_lands_the_world_and_a_second_run_lands_nothing(erp, tmp_path):
    sandbox, world = erp
    with Warehouse.from_url(f"duckdb:///{tmp_path}/w.duckdb") as wh:
        first = run_all(sandbox, wh, "run-1", page_size=100)
        for t in TABLES_READ:
            assert first[t].landed == truth_count(world, t), t
            assert landed_latest(wh, t) == world_rows(world, t), t
        assert first["transaction"].pages >= 3  # 250 rows at 100 a page: paging was exercised
        assert get_cursor(wh, "erp", "transaction") == max(
            r[0]
            for r in sqlite3.connect(world / "erp.sqlite").execute(
                'select lastmodifieddate from "transaction"'
            )
        )
        second = run_all(sandbox, wh, "run-2", page_size=100)
        assert {t: r.landed for t, r in second.items()} == dict.fromkeys(TABLES_READ, 0)
        # incremental tables re-read only the overlap window, not the whole table
        assert second["transaction"].rows_read < first["transaction"].rows_read


def test_listings_past_the_row_window_restart_from_the_last_key(erp, tmp_path):
    # NetSuite pages one query through 100,000 rows at most and then says hasMore: false; the
    # client treats reaching the window as "maybe more" and the extractor restarts the query
    # from the last key it landed. A 100-row window shows it on the tiny world.
    sandbox, world = erp
    with Warehouse.from_url(f"duckdb:///{tmp_path}/w.duckdb") as wh:
        first = run_all(sandbox, wh, "run-1", page_size=40, max_window=100)
        assert first["transaction"].queries >= 3 and first["transactionline"].queries >= 5
        for t in TABLES_READ:
            assert landed_latest(wh, t) == world_rows(world, t), t
        second = run_all(sandbox, wh, "run-2", page_size=40, max_window=100)
        assert sum(r.landed for r in second.values()) == 0


def test_changes_after_the_cursor_and_late_updates_inside_the_overlap_are_landed(erp, tmp_path):
    sandbox, world = erp
    with Warehouse.from_url(f"duckdb:///{tmp_path}/w.duckdb") as wh:
        run_all(sandbox, wh, "run-1")
        cursor = get_cursor(wh, "erp", "transaction")
        con = sqlite3.connect(world / "erp.sqlite")
        # a normal edit, stamped after the cursor, and its lines
        con.execute(
            "update \"transaction\" set memo='re-posted', lastmodifieddate='2026-12-01T00:00:00Z'"
            " where id=7"
        )
        con.execute("update transactionline set memo='re-posted' where \"transaction\"=7")
        # a late update: committed after the last run but stamped 3 minutes before its cursor
        # (a long edit); the overlap re-reads that window and catches it
        late = cursor.replace("Z", "")
        con.execute(
            "update customer set companyname='Late Co', lastmodifieddate="
            "strftime('%Y-%m-%dT%H:%M:%SZ', ?, '-3 minutes') where id=4",
            (late,),
        )
        con.commit()
        con.close()
        again = run_all(sandbox, wh, "run-2")
        assert again["transaction"].landed == 1
        assert again["transactionline"].landed == 2
        assert again["customer"].landed == 1
        assert sum(r.landed for r in again.values()) == 4
        for t in TABLES_READ:
            assert landed_latest(wh, t) == world_rows(world, t), t


def test_late_commits_stamped_an_hour_behind_are_caught_by_the_overlap(erp, tmp_path):
    sandbox, world = erp
    with Warehouse.from_url(f"duckdb:///{tmp_path}/w.duckdb") as wh:
        run_all(sandbox, wh, "run-1")
        # accountants edit served transactions, stamped an hour behind the newest stamp: behind
        # the cursor, where a strict `>` (or a 5-minute overlap) never looks again
        sandbox.set_faults("erp", {"late_update": 1.0, "late_update_lag_s": 3600, "seed": 2})
        run_all(sandbox, wh, "run-late", page_size=50)
        sandbox.set_faults("erp", {"late_update": 0})
        (edited,) = (
            sqlite3.connect(world / "erp.sqlite")
            .execute("select count(*) from \"transaction\" where memo like '%(edited)%'")
            .fetchone()
        )
        assert edited > 0
        run_all(sandbox, wh, "run-after")
        for t in TABLES_READ:
            assert landed_latest(wh, t) == world_rows(world, t), t


def test_with_rate_limits_5xx_and_dropped_connections_the_landing_still_equals_the_world(
    erp, tmp_path
):
    sandbox, world = erp
    sandbox.set_faults(
        "erp",
        {"rate_limit": 0.15, "server_error": 0.1, "drop_connection": 0.1, "seed": 11},
    )
    with Warehouse.from_url(f"duckdb:///{tmp_path}/w.duckdb") as wh:
        results = run_all(sandbox, wh, "run-faults", page_size=50, attempts=12)
        assert sum(r.retries for r in results.values()) > 0
        for t in TABLES_READ:
            assert landed_latest(wh, t) == world_rows(world, t), t
    sandbox.set_faults("erp", {"rate_limit": 0, "server_error": 0, "drop_connection": 0})


def test_malformed_rows_are_quarantined_the_cursor_waits_and_a_clean_rerun_completes(erp, tmp_path):
    sandbox, world = erp
    sandbox.set_faults("erp", {"malformed_rows": 0.05, "seed": 3})
    with Warehouse.from_url(f"duckdb:///{tmp_path}/w.duckdb") as wh:
        c = client(sandbox)
        try:
            bad = ErpExtractor(c, wh, run_id="run-bad").extract("transaction")
        finally:
            c.close()
        assert bad.quarantined > 0 and bad.cursor_held
        (n,) = wh.fetchone("select count(*) from ops.quarantine where source='erp'")
        assert n == bad.quarantined
        sandbox.set_faults("erp", {"malformed_rows": 0})
        c = client(sandbox)
        try:
            good = ErpExtractor(c, wh, run_id="run-good").extract("transaction")
        finally:
            c.close()
        assert good.quarantined == 0
        assert landed_latest(wh, "transaction") == world_rows(world, "transaction")


def test_a_refused_token_fails_with_what_to_do(erp, tmp_path):
    sandbox, _ = erp
    c = SuiteQLClient(
        ErpCredentials(sandbox.env["Q2C_ERP_BASE_URL"], "wrong-token"), base_wait=0.01
    )
    with (
        Warehouse.from_url(f"duckdb:///{tmp_path}/w.duckdb") as wh,
        pytest.raises(AuthError, match="Q2C_ERP_TOKEN"),
    ):
        ErpExtractor(c, wh, run_id="r").extract("customer")
    c.close()


def test_a_table_the_erp_does_not_know_is_a_schema_error(erp):
    sandbox, _ = erp
    c = client(sandbox)
    with pytest.raises(SchemaError, match="What to do"):
        c.fetch("SELECT id, nosuchcolumn FROM customer")
    c.close()


@pytest.mark.postgres
def test_the_same_extract_lands_into_postgres(erp, postgres_db):
    sandbox, world = erp
    with Warehouse.from_url(postgres_db) as wh:
        first = run_all(sandbox, wh, "pg-1")
        assert {t: r.landed for t, r in first.items()} == {
            t: truth_count(world, t) for t in TABLES_READ
        }
        second = run_all(sandbox, wh, "pg-2")
        assert sum(r.landed for r in second.values()) == 0
        assert get_cursor(wh, "erp", "customer") == first["customer"].cursor_after
