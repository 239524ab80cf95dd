"""Billing extraction into PostgreSQL: the same landed data as the world, reruns land nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from q2c.warehouse import Warehouse
from tests.integration.test_extract_billing import (
    landed_live,
    run_billing,
    truth_counts,
    world_listing,
)

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

#: Plain lists, parents with embedded children (invoice lines), payout settlements, events.
OBJECTS = ("event", "customer", "invoice", "payout", "refund", "balance_transaction")


@pytest.fixture(scope="module")
def billing_env(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    from sandbox.services import start_services

    sandbox = start_services(
        world_s, None, tmp_path_factory.mktemp("pg_state"), services=("billing",)
    )
    try:
        yield dict(sandbox.env)
    finally:
        sandbox.stop()


def test_billing_lands_in_postgres_exactly_what_the_world_lists_and_reruns_add_nothing(
    world_s: Path, billing_env: dict, postgres_db: str
) -> None:
    first = run_billing(billing_env, postgres_db, "pg-1", objects=OBJECTS)
    assert sum(r.landed for r in first) > 0
    listing, counts = world_listing(world_s), truth_counts(world_s)
    with Warehouse.from_url(postgres_db) as wh:
        for obj in (*OBJECTS, "line_item"):
            live = landed_live(wh, obj)
            assert live == listing[obj], obj
            assert len(live) == counts[obj], obj
        (settled,) = wh.fetchone("select count(*) from raw.billing__payout_balance_transaction")
        (jsonb,) = wh.fetchone(
            "select count(*) from raw.billing__invoice"
            " where jsonb_typeof(payload -> 'lines') = 'object'"
        )
    assert settled > 0 and jsonb == counts["invoice"]
    again = run_billing(billing_env, postgres_db, "pg-2", objects=OBJECTS)
    assert sum(r.landed for r in again) == 0
