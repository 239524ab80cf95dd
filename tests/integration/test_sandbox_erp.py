"""The ERP stand-in over real HTTP: SuiteQL paging, auth, errors, the journal import, VIES.

SuiteQL is driven with the `netsuite` PyPI package (`netsuite.NetSuite(config).rest_api`), a
client someone else wrote. It cannot be pointed at the stand-in by `Config` alone: it derives
the host from the account id (`https://<account>.suitetalk.api.netsuite.com/services/rest`)
and only speaks OAuth 1.0 TBA. Its request methods do pass a `url=` keyword through to httpx,
so the tests give it the stand-in's URL per call and the stand-in verifies its TBA signatures.
The journal import is our own endpoint (no NetSuite client knows it), so it is driven with
httpx and the bearer token the pipeline uses.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from netsuite import Config, NetSuite, TokenAuth
from netsuite.exceptions import NetsuiteAPIRequestError

from sandbox.erp.auth import ERP_TOKEN, TBA
from sandbox.services import RunningSandbox, start_services
from tests.support.sandbox import TINY_INVALID_VAT, build_tiny_erp_world

pytestmark = pytest.mark.integration

TABLES = [
    "subsidiary",
    "currency",
    "account",
    "accountingperiod",
    "customer",
    "transaction",
    "transactionline",
    "previoustransactionlinelink",
]
HEADER = (
    "external_id,line_external_id,trandate,posting_period,currency,account,debit,credit,memo,"
    "entity,source_ref"
)


@pytest.fixture(scope="module")
def erp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    root = tmp_path_factory.mktemp("erp")
    world = build_tiny_erp_world(root / "world")
    with start_services(world, None, root / "state", services=("erp",)) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def netsuite_client() -> NetSuite:
    auth = TokenAuth(
        consumer_key=TBA.consumer_key,
        consumer_secret=TBA.consumer_secret,
        token_id=TBA.token_id,
        token_secret=TBA.token_secret,
    )
    return NetSuite(Config(account=TBA.account, auth=auth))


def suiteql_url(sandbox: RunningSandbox) -> str:
    return sandbox.env["Q2C_ERP_BASE_URL"] + "/services/rest/query/v1/suiteql"


def page_all(ns: NetSuite, url: str, q: str, limit: int) -> tuple[list[dict], list[dict]]:
    """Every item of a query, following `hasMore`; also returns the pages."""

    async def run() -> tuple[list[dict], list[dict]]:
        items, pages, offset = [], [], 0
        while True:
            page = await ns.rest_api.suiteql(q, limit=limit, offset=offset, url=url)
            pages.append(page)
            items.extend(page["items"])
            if not page["hasMore"]:
                return items, pages
            offset += page["count"]

    return asyncio.run(run())


def truth_counts(world_dir: Path) -> dict[str, int]:
    with sqlite3.connect(world_dir / "truth.sqlite") as conn:
        return dict(conn.execute("SELECT object, n FROM counts WHERE system = 'erp'"))


def bearer(sandbox: RunningSandbox) -> dict[str, str]:
    return {"Authorization": f"Bearer {sandbox.env['Q2C_ERP_TOKEN']}", "Prefer": "transient"}


def post_q(sandbox: RunningSandbox, q: str, **params: int) -> httpx.Response:
    return httpx.post(suiteql_url(sandbox), json={"q": q}, params=params, headers=bearer(sandbox))


def test_netsuite_client_pages_every_table_to_the_truth_counts(
    erp: RunningSandbox, netsuite_client: NetSuite
) -> None:
    counts = truth_counts(erp.world_dir)
    for table in TABLES:
        items, pages = page_all(netsuite_client, suiteql_url(erp), f"SELECT * FROM {table}", 97)
        assert len(items) == counts[table], table
        assert all(p["totalResults"] == counts[table] for p in pages)
    keys = {
        (i["transaction"], i["id"])
        for i in page_all(netsuite_client, suiteql_url(erp), "SELECT * FROM transactionline", 100)[
            0
        ]
    }
    assert len(keys) == counts["transactionline"]


def test_page_envelope_has_netsuite_links_and_string_values(erp: RunningSandbox) -> None:
    body = post_q(
        erp, "SELECT id, foreigntotal, trandate FROM transaction ORDER BY id", limit=10, offset=10
    ).json()
    assert (body["count"], body["offset"], body["hasMore"]) == (10, 10, True)
    rels = {link["rel"]: link["href"] for link in body["links"]}
    assert rels["next"].endswith("limit=10&offset=20")
    assert rels["previous"].endswith("limit=10&offset=0")
    assert rels["self"].endswith("limit=10&offset=10")
    first = body["items"][0]
    assert first["id"] == "11" and first["links"] == []
    assert all(isinstance(v, str) for k, v in first.items() if k != "links")


def test_null_columns_are_left_out_of_items(erp: RunningSandbox) -> None:
    items = post_q(erp, "SELECT id, email FROM customer WHERE id IN (5, 6) ORDER BY id").json()[
        "items"
    ]
    assert items == [
        {"links": [], "id": "5"},
        {"links": [], "id": "6", "email": "billing6@example.com"},
    ]


def test_where_with_timestamps_dates_in_and_or_matches_sqlite(erp: RunningSandbox) -> None:
    q = (
        "SELECT t.id FROM transaction t WHERE (t.lastmodifieddate > TO_TIMESTAMP('2026-05-01 "
        "00:00:00', 'YYYY-MM-DD HH24:MI:SS') AND t.trandate <= '2026-08-15') OR t.id IN (1, 2) "
        "ORDER BY t.id DESC"
    )
    got = [int(i["id"]) for i in post_q(erp, q).json()["items"]]
    with sqlite3.connect(erp.world_dir / "erp.sqlite") as conn:
        want = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM \"transaction\" WHERE (lastmodifieddate > '2026-05-01T00:00:00Z' "
                "AND trandate <= '2026-08-15') OR id IN (1, 2) ORDER BY id DESC"
            )
        ]
    assert got == want and len(want) > 10


def test_join_reads_both_tables(erp: RunningSandbox) -> None:
    q = (
        "SELECT tl.transaction, a.acctnumber, tl.debitforeignamount FROM transactionline tl "
        "INNER JOIN account a ON a.id = tl.account WHERE tl.transaction = 7 ORDER BY tl.id"
    )
    items = post_q(erp, q).json()["items"]
    assert [i["acctnumber"] for i in items] == ["1200", "4000"]
    assert "debitforeignamount" in items[0] and "debitforeignamount" not in items[1]


@pytest.mark.parametrize(
    "q",
    [
        "DELETE FROM customer",
        "SELECT * FROM customer; DROP TABLE customer",
        "SELECT * FROM sqlite_master",
        "SELECT * FROM q2c_import_journal",
        "SELECT secret FROM customer",
        "SELECT id FROM customer -- comment",
        "SELECT id FROM (SELECT id FROM customer)",
        "SELECT load_extension('x') FROM customer",
    ],
)
def test_queries_outside_the_subset_are_a_netsuite_400(erp: RunningSandbox, q: str) -> None:
    r = post_q(erp, q)
    assert r.status_code == 400
    body = r.json()
    assert body["status"] == 400 and body["title"] == "Bad Request"
    assert body["o:errorDetails"][0]["o:errorCode"] == "INVALID_PARAMETER"
    assert body["o:errorDetails"][0]["detail"].startswith("Invalid search query")


def test_missing_or_wrong_token_is_a_401_in_netsuite_shape(erp: RunningSandbox) -> None:
    for headers in (
        {"Prefer": "transient"},
        {"Authorization": "Bearer nope", "Prefer": "transient"},
    ):
        r = httpx.post(suiteql_url(erp), json={"q": "SELECT id FROM account"}, headers=headers)
        assert r.status_code == 401
        assert r.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"
    assert erp.env["Q2C_ERP_TOKEN"] == ERP_TOKEN


def test_netsuite_client_with_a_wrong_tba_secret_is_refused(erp: RunningSandbox) -> None:
    auth = TokenAuth(
        consumer_key=TBA.consumer_key,
        consumer_secret="not-the-secret",
        token_id=TBA.token_id,
        token_secret=TBA.token_secret,
    )
    client = NetSuite(Config(account=TBA.account, auth=auth))
    with pytest.raises(NetsuiteAPIRequestError) as err:
        asyncio.run(client.rest_api.suiteql("SELECT id FROM account", url=suiteql_url(erp)))
    assert err.value.status_code == 401


def test_prefer_transient_is_required(erp: RunningSandbox) -> None:
    headers = {"Authorization": f"Bearer {ERP_TOKEN}"}
    r = httpx.post(suiteql_url(erp), json={"q": "SELECT id FROM account"}, headers=headers)
    assert r.status_code == 400
    assert r.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_HEADER"


@pytest.mark.parametrize(
    ("params", "ok"),
    [
        ({"limit": 1000}, True),
        ({"limit": 1001}, False),
        ({"limit": 0}, False),
        ({"limit": 1000, "offset": 99_000}, True),
        ({"limit": 1000, "offset": 99_001}, False),
        ({"offset": -1}, False),
    ],
)
def test_limit_and_the_100k_window_are_enforced(
    erp: RunningSandbox, params: dict[str, int], ok: bool
) -> None:
    r = post_q(erp, "SELECT id FROM account", **params)
    assert (r.status_code == 200) is ok
    if not ok:
        assert r.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_PARAMETER"


# ---------------------------------------------------------------- journal import


def import_csv(sandbox: RunningSandbox, text: str, **params: str) -> httpx.Response:
    return httpx.post(
        sandbox.env["Q2C_ERP_BASE_URL"] + "/services/rest/q2c/v1/journal-import",
        content=text.encode(),
        params=params,
        headers={"Authorization": f"Bearer {ERP_TOKEN}", "Content-Type": "text/csv"},
    )


def journal_rows(sandbox: RunningSandbox, external_ids: list[str]) -> list[dict]:
    ids = ", ".join(f"'{e}'" for e in external_ids)
    q = (
        "SELECT t.externalid, t.type, t.foreigntotal, tl.id, tl.account, tl.debitforeignamount, "
        "tl.creditforeignamount, tl.foreignamount FROM transaction t JOIN transactionline tl "
        f"ON tl.transaction = t.id WHERE t.externalid IN ({ids}) ORDER BY t.externalid, tl.id"
    )
    return post_q(sandbox, q).json()["items"]


def entry(
    ext: str,
    amount: str = "100.00",
    date: str = "2026-10-05",
    entity: str = "cus_000001",
    debit_acct: str = "1000",
    credit_acct: str = "1200",
    currency: str = "USD",
) -> str:
    return (
        f"{ext},1,{date},,{currency},{debit_acct},{amount},,payment,{entity},ch_{ext}\n"
        f"{ext},2,{date},,{currency},{credit_acct},,{amount},payment,{entity},ch_{ext}\n"
    )


def test_import_posts_balanced_entries_and_suiteql_shows_them(erp: RunningSandbox) -> None:
    text = HEADER + "\n" + entry("je-a1", "250.10") + entry("je-a2", "99.99", entity="")
    r = import_csv(erp, text)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "complete"
    assert body["entries"] == {"posted": 2, "alreadyPosted": 0, "rejected": 0}
    assert [line["line"] for line in body["lines"]] == [2, 3, 4, 5]
    assert {line["status"] for line in body["lines"]} == {"posted"}
    rows = journal_rows(erp, ["je-a1", "je-a2"])
    assert [(r["externalid"], r["type"], r["id"]) for r in rows] == [
        ("je-a1", "Journal", "0"),
        ("je-a1", "Journal", "1"),
        ("je-a2", "Journal", "0"),
        ("je-a2", "Journal", "1"),
    ]
    assert rows[0]["foreigntotal"] == "250.10"
    assert (rows[0]["debitforeignamount"], rows[0]["foreignamount"]) == ("250.10", "250.10")
    assert (rows[1]["creditforeignamount"], rows[1]["foreignamount"]) == ("250.10", "-250.10")


def test_reposting_the_same_external_ids_posts_nothing_new(erp: RunningSandbox) -> None:
    text = HEADER + "\n" + entry("je-b1", "10.00")
    first = import_csv(erp, text).json()
    before = post_q(erp, "SELECT COUNT(*) AS n FROM transactionline").json()["items"][0]["n"]
    again = import_csv(erp, text).json()
    after = post_q(erp, "SELECT COUNT(*) AS n FROM transactionline").json()["items"][0]["n"]
    assert first["entries"]["posted"] == 1
    assert again["entries"] == {"posted": 0, "alreadyPosted": 1, "rejected": 0}
    assert {line["status"] for line in again["lines"]} == {"already_posted"}
    assert again["lines"][0]["transactionId"] == first["lines"][0]["transactionId"]
    assert before == after


def test_same_external_id_with_other_lines_is_rejected_dup_rcrd(erp: RunningSandbox) -> None:
    import_csv(erp, HEADER + "\n" + entry("je-c1", "10.00"))
    body = import_csv(erp, HEADER + "\n" + entry("je-c1", "11.00")).json()
    assert body["status"] == "rejected"
    assert body["lines"][0]["errors"][0]["o:errorCode"] == "DUP_RCRD"
    assert journal_rows(erp, ["je-c1"])[0]["debitforeignamount"] == "10.00"


def test_malformed_file_is_refused_with_line_errors_and_posts_nothing(erp: RunningSandbox) -> None:
    text = (
        HEADER
        + "\n"
        + entry("je-d1", "5.00")
        + "je-d2,1,2026-10-05,,USD,1000,12.345,,x,,ref\n"  # three decimals
        + "je-d2,2,2026-10-05,,USD,1200,,12.345,x,,ref\n"
        + "je-d3,1,2026-13-01,,USD,1000,1.00,,x,,ref\n"  # no such date
        + "je-d3,2,2026-10-05,,USD,1200,,1.00,x,,\n"  # source_ref missing
        + "je-d4,1,2026-10-05,,USD,1000,1.00\n"  # too few fields
    )
    r = import_csv(erp, text)
    assert r.status_code == 400
    body = r.json()
    assert body["o:errorDetails"][0]["o:errorCode"] == "INVALID_FILE"
    by_line = {line["line"]: line for line in body["lines"]}
    assert by_line[2]["status"] == by_line[3]["status"] == "not_posted"
    assert by_line[4]["status"] == "invalid" and "debit" in by_line[4]["errors"][0]["detail"]
    assert "trandate" in by_line[6]["errors"][0]["detail"]
    assert "source_ref" in by_line[7]["errors"][0]["detail"]
    assert "fields" in by_line[8]["errors"][0]["detail"]
    assert journal_rows(erp, ["je-d1", "je-d2", "je-d3", "je-d4"]) == []


def test_file_with_a_missing_column_is_refused(erp: RunningSandbox) -> None:
    r = import_csv(erp, "external_id,debit\nx,1.00\n")
    assert r.status_code == 400
    assert "missing columns" in r.json()["o:errorDetails"][0]["detail"]


@pytest.mark.parametrize(
    ("bad_entry", "code"),
    [
        (entry("je-e1", debit_acct="9999"), "INVALID_KEY_OR_REF"),
        (entry("je-e2", currency="JPY"), "INVALID_KEY_OR_REF"),
        (entry("je-e3", entity="cus_unknown"), "INVALID_KEY_OR_REF"),
        (entry("je-e4", date="2026-03-10"), "PERIOD_CLOSED"),
        (
            "je-e5,1,2026-10-05,,USD,1000,10.00,,m,,r\nje-e5,2,2026-10-05,,USD,1200,,9.99,m,,r\n",
            "UNBALANCED_JOURNAL",
        ),
    ],
)
def test_business_errors_reject_only_their_entry(
    erp: RunningSandbox, bad_entry: str, code: str
) -> None:
    good = f"je-ok-{code.lower()}-{bad_entry[:5]}"
    body = import_csv(erp, HEADER + "\n" + bad_entry + entry(good)).json()
    assert body["status"] == "partial"
    assert body["entries"] == {"posted": 1, "alreadyPosted": 0, "rejected": 1}
    rejected = [line for line in body["lines"] if line["status"] == "rejected"]
    assert len(rejected) == 2 and all(line["errors"] for line in rejected)
    assert code in {e["o:errorCode"] for line in rejected for e in line["errors"]}
    bad_ext = bad_entry.split(",", 1)[0]
    assert journal_rows(erp, [bad_ext]) == []
    assert len(journal_rows(erp, [good])) == 2


def test_atomic_import_with_a_rejection_posts_nothing(erp: RunningSandbox) -> None:
    text = HEADER + "\n" + entry("je-f1") + entry("je-f2", debit_acct="9999")
    r = import_csv(erp, text, atomic="true")
    assert r.status_code == 400
    assert journal_rows(erp, ["je-f1", "je-f2"]) == []


def test_import_requires_the_token(erp: RunningSandbox) -> None:
    r = httpx.post(
        erp.env["Q2C_ERP_BASE_URL"] + "/services/rest/q2c/v1/journal-import",
        content=(HEADER + "\n" + entry("je-g1")).encode(),
    )
    assert r.status_code == 401
    assert journal_rows(erp, ["je-g1"]) == []


# ---------------------------------------------------------------- VIES


def vies(sandbox: RunningSandbox, cc: str, number: str) -> httpx.Response:
    return httpx.post(
        sandbox.env["Q2C_VIES_URL"] + "/check-vat-number",
        json={"countryCode": cc, "vatNumber": number},
    )


def test_vies_valid_iff_checksum_passes_and_not_injected_invalid(erp: RunningSandbox) -> None:
    ok = vies(erp, "NL", "004495445B01").json()
    assert ok["valid"] is True and ok["countryCode"] == "NL" and ok["vatNumber"] == "004495445B01"
    assert ok["requestDate"] == "2026-11-01T00:00:00.000Z"
    assert set(ok) == {"countryCode", "vatNumber", "requestDate", "valid", "name", "address"}
    assert vies(erp, "DE", "123456789").json()["valid"] is False  # bad checksum
    assert vies(erp, "DE", TINY_INVALID_VAT[2:]).json()["valid"] is False  # injected invalid
    r = httpx.get(erp.env["Q2C_VIES_URL"] + "/ms/NL/vat/004495445B01")
    assert r.json()["valid"] is True


def test_vies_unknown_country_is_invalid_input(erp: RunningSandbox) -> None:
    r = vies(erp, "US", "123")
    assert r.status_code == 400
    assert r.json()["errorWrappers"][0]["error"] == "INVALID_INPUT"
