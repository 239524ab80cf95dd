"""The webhook intake on PostgreSQL: events land once, refusals are counted, the sensor's
queries read the inbox the same way as on DuckDB."""

from __future__ import annotations

import time

import httpx
import pytest

from extractors.billing.webhooks import intake_counts, latest_arrival, pending_events
from orchestration.webhook_app import IntakeConfig, create_app
from q2c.landing import RawRecord, land_page
from q2c.warehouse import Warehouse
from sandbox.billing.serve import serve_in_thread
from tests.integration.test_webhook_intake import SECRET, event, post

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def test_the_intake_lands_each_event_once_and_counts_refusals_on_postgres(
    postgres_db: str,
) -> None:
    app = create_app(IntakeConfig(warehouse_url=postgres_db, secrets=[SECRET]))
    with serve_in_thread(app) as base, httpx.Client(base_url=base, trust_env=False) as client:
        now = int(time.time())
        assert post(client, event("evt_p1"), at=now - 1).json() == {"received": True}
        again = post(client, event("evt_p1"), at=now)  # re-delivered: signed anew
        assert again.json() == {"received": True, "duplicate": True}
        assert post(client, event("evt_p2")).status_code == 200
        assert post(client, event("evt_p3"), at=int(time.time()) - 1_000).status_code == 400
        assert post(client, event("evt_p3"), secret="whsec_wrong").status_code == 400
    with Warehouse.from_url(postgres_db) as wh:
        assert intake_counts(wh) == {
            "stored": {"": 2},
            "duplicate": {"": 1},
            "refused": {"stale_timestamp": 1, "bad_signature": 1},
        }
        pending = pending_events(wh)
        assert [e.event_id for e in pending] == ["evt_p1", "evt_p2"]
        assert pending[0].payload["data"]["object"]["id"] == "cus_1"
        # once processed (in raw.billing__event) an event is no longer pending
        land_page(
            wh, "billing", "event", [RawRecord("evt_p1", "evt_p1", {"id": "evt_p1"})], run_id="t"
        )
        assert [e.event_id for e in pending_events(wh)] == ["evt_p2"]
        newest = latest_arrival(wh)
        assert newest is not None
        assert pending_events(wh, received_since=newest) == pending_events(wh)[-1:]
