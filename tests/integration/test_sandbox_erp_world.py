"""The ERP and VIES stand-ins over a generated S world, served by the session fixtures.

SuiteQL is paged with the `netsuite` PyPI client (see test_sandbox_erp.py for why it is given
the stand-in's URL per call); the page-through counts must equal `truth.counts`.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import httpx
import pytest
from netsuite import Config, NetSuite, TokenAuth
from stdnum.eu import vat as eu_vat

from sandbox.erp.auth import TBA

pytestmark = pytest.mark.integration


# primary keys, to prove every row came back once
KEYS = {
    "transactionline": ("transaction", "id"),
    "previoustransactionlinelink": ("previousdoc", "previousline", "nextdoc", "nextline"),
}


def netsuite_client() -> NetSuite:
    auth = TokenAuth(
        consumer_key=TBA.consumer_key,
        consumer_secret=TBA.consumer_secret,
        token_id=TBA.token_id,
        token_secret=TBA.token_secret,
    )
    return NetSuite(Config(account=TBA.account, auth=auth))


def truth(world: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(world / "truth.sqlite") as conn:
        return conn.execute(sql).fetchall()


def test_suiteql_page_through_counts_equal_truth_counts(
    world_s: Path, sandbox_services: dict[str, str]
) -> None:
    url = sandbox_services["Q2C_ERP_BASE_URL"] + "/services/rest/query/v1/suiteql"
    ns = netsuite_client()
    counts = dict(truth(world_s, "SELECT object, n FROM counts WHERE system = 'erp'"))
    assert counts["transactionline"] > 10_000

    async def listing(table: str) -> tuple[int, set[tuple[str, ...]]]:
        key = KEYS.get(table, ("id",))
        seen, offset, total = set(), 0, None
        while True:
            page = await ns.rest_api.suiteql(
                f"SELECT * FROM {table}", limit=1000, offset=offset, url=url
            )
            total = page["totalResults"]
            seen.update(tuple(item[k] for k in key) for item in page["items"])
            if not page["hasMore"]:
                return total, seen
            offset += page["count"]

    for table, n in counts.items():
        total, keys = asyncio.run(listing(table))
        assert (table, total, len(keys)) == (table, n, n)


def test_vies_answers_the_worlds_vat_numbers(
    world_s: Path, sandbox_services: dict[str, str]
) -> None:
    invalid = {
        json.loads(detail)["vat_number"]
        for (detail,) in truth(
            world_s, "SELECT detail FROM discrepancies WHERE kind = 'invalid_eu_vat'"
        )
    }
    numbers = [v for (v,) in truth(world_s, "SELECT value FROM pii WHERE field = 'tax_ids.eu_vat'")]
    assert invalid and len(numbers) > len(invalid)
    base = sandbox_services["Q2C_VIES_URL"]
    with httpx.Client(trust_env=False) as client:
        for number in numbers:
            cc = "EL" if number[:2] == "GR" else number[:2]
            r = client.post(
                base + "/check-vat-number", json={"countryCode": cc, "vatNumber": number[2:]}
            )
            assert r.status_code == 200
            expected = number not in invalid and eu_vat.is_valid(number)
            assert r.json()["valid"] is expected, number
