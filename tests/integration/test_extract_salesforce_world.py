"""Salesforce and ERP extracts over a generated S world, served by the stand-ins.

The module generates its own S world (seed 7) because it advances it; the shared session world
stays untouched. Figures are checked against the world's ground truth: `truth.counts` for a
full landing, `truth.changes` for what one advanced day changed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from extractors.erp import ErpCredentials, ErpExtractor, SuiteQLClient
from extractors.erp.tables import TABLES
from extractors.salesforce import (
    RetrySettings,
    SalesforceClient,
    SalesforceCredentials,
    SalesforceExtractor,
)
from extractors.salesforce.normalize import parse_datetime
from q2c.warehouse import Warehouse

pytestmark = pytest.mark.integration

SF_OBJECTS = ["Account", "Contact", "Opportunity", "Case", "User"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    from sandbox.services import start_services
    from sandbox.world import generate

    world_dir = tmp_path_factory.mktemp("world_s_extract")
    generate(world_dir, seed=7, scale="S")
    sandbox = start_services(
        world_dir, None, tmp_path_factory.mktemp("state"), services=("salesforce", "erp")
    )
    try:
        yield sandbox, world_dir
    finally:
        sandbox.stop()


def truth(world_dir: Path, system: str) -> dict[str, int]:
    con = sqlite3.connect(world_dir / "truth.sqlite")
    rows = con.execute("select object, n from counts where system = ?", (system,)).fetchall()
    con.close()
    return dict(rows)


def changed_ids(world_dir: Path, system: str, day: int) -> dict[str, int]:
    con = sqlite3.connect(world_dir / "truth.sqlite")
    rows = con.execute(
        "select object, count(distinct id) from changes where system = ? and day = ?"
        " group by object",
        (system, day),
    ).fetchall()
    con.close()
    return dict(rows)


def late_changes(world_dir: Path, cursors: dict[str, str | None]) -> dict[str, int]:
    """Per object, Salesforce rows changed on day 1 stamped before `cursor - 5 min`."""
    truth_db = sqlite3.connect(world_dir / "truth.sqlite")
    sf_db = sqlite3.connect(world_dir / "salesforce.sqlite")
    out: dict[str, int] = {}
    for sobject, rid in truth_db.execute(
        "select distinct object, id from changes where system = 'salesforce' and day = 1"
    ):
        (stamp,) = sf_db.execute(
            "select system_modstamp from records where id = ?", (rid,)
        ).fetchone()
        cursor = cursors[sobject]
        if cursor and parse_datetime(stamp) < parse_datetime(cursor) - timedelta(minutes=5):
            out[sobject] = out.get(sobject, 0) + 1
    truth_db.close()
    sf_db.close()
    return out


def sf_client(sandbox: Any) -> SalesforceClient:
    env = sandbox.env
    return SalesforceClient(
        SalesforceCredentials(
            login_url=env["Q2C_SALESFORCE_LOGIN_URL"],
            client_id=env["Q2C_SALESFORCE_CLIENT_ID"],
            client_secret=env["Q2C_SALESFORCE_CLIENT_SECRET"],
            username=env["Q2C_SALESFORCE_USERNAME"],
            password=env["Q2C_SALESFORCE_PASSWORD"],
            ca_bundle=env["Q2C_SALESFORCE_CA_BUNDLE"],
        ),
        retry=RetrySettings(base_wait=0.01, max_wait=0.05),
    )


def run_salesforce(sandbox: Any, wh: Warehouse, run_id: str) -> dict[str, Any]:
    client = sf_client(sandbox)
    try:
        ex = SalesforceExtractor(client, wh, run_id=run_id)
        return {o: ex.extract(o) for o in SF_OBJECTS}
    finally:
        client.close()


def run_erp(sandbox: Any, wh: Warehouse, run_id: str) -> dict[str, Any]:
    env = sandbox.env
    client = SuiteQLClient(ErpCredentials(env["Q2C_ERP_BASE_URL"], env["Q2C_ERP_TOKEN"]))
    try:
        ex = ErpExtractor(client, wh, run_id=run_id)
        return {t: ex.extract(t) for t in TABLES}
    finally:
        client.close()


def test_bulk_backfill_of_the_s_world_lands_the_same_rows_as_rest(world, tmp_path):
    sandbox, _ = world
    with Warehouse.from_url(f"duckdb:///{tmp_path}/rest.duckdb") as rest:
        run_salesforce(sandbox, rest, "rest")
        client = sf_client(sandbox)
        for sobject in SF_OBJECTS:
            window = SalesforceExtractor(client, rest, run_id="bulk").backfill(
                sobject, datetime(2020, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)
            )
            (n,) = rest.fetchone(f"select count(*) from raw.salesforce__{sobject.lower()}")
            assert (window.landed, window.duplicates) == (0, n), sobject
        client.close()


def test_s_world_lands_truth_counts_reruns_land_nothing_and_a_day_lands_its_changes(
    world, tmp_path
):
    sandbox, world_dir = world
    from sandbox.world import advance

    with Warehouse.from_url(f"duckdb:///{tmp_path}/w.duckdb") as wh:
        sf_truth, erp_truth = truth(world_dir, "salesforce"), truth(world_dir, "erp")
        sf = run_salesforce(sandbox, wh, "run-1")
        for o in SF_OBJECTS:
            assert sf[o].landed == sf_truth[o], o
            # tombstones: queryAll returns soft-deleted rows, flagged is_deleted
            assert sf[o].deleted == sf_truth[o] - sf_truth[f"{o}:live"], o
        erp = run_erp(sandbox, wh, "run-1")
        assert {t: r.landed for t, r in erp.items()} == {t: erp_truth[t] for t in TABLES}

        assert sum(r.landed for r in run_salesforce(sandbox, wh, "run-2").values()) == 0
        assert sum(r.landed for r in run_erp(sandbox, wh, "run-2").values()) == 0

        # one day later: exactly the changed rows land, including the day's late-arriving
        # Opportunity edit stamped hours before rows already read (the late-change sweep)
        advance(world_dir, 1)
        sf3 = run_salesforce(sandbox, wh, "run-3")
        erp3 = run_erp(sandbox, wh, "run-3")
        sf_changed = changed_ids(world_dir, "salesforce", 1)
        erp_changed = changed_ids(world_dir, "erp", 1)
        assert {o: r.landed for o, r in sf3.items() if r.landed} == sf_changed
        # changes stamped before the 5-minute overlap (the day's late-arriving edit, when the
        # world made one) are the ones the late-change sweep had to find by Id and stamp
        late = late_changes(world_dir, {o: r.cursor_before for o, r in sf3.items()})
        assert {o: r.late_found for o, r in sf3.items()} == {o: late.get(o, 0) for o in SF_OBJECTS}
        assert {t: r.landed for t, r in erp3.items() if r.landed} == erp_changed
        assert sum(r.quarantined for r in [*sf3.values(), *erp3.values()]) == 0
