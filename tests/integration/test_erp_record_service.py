"""The ERP's REST record service (stand-in) driven by the pipeline's adapter over real HTTP.

The stand-in's write journal (`GET /__sandbox/record-journal`) is the proof of what the ERP
received and posted; SuiteQL shows the posted rows as the next extract would read them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal

import httpx
import pytest

from extractors.erp import ErpCredentials
from extractors.erp.records import RecordServiceClient
from q2c.exports.entries import JournalEntry, JournalLine
from sandbox.services import RunningSandbox, start_services
from tests.support.sandbox import build_tiny_erp_world

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def erp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    root = tmp_path_factory.mktemp("erp-records")
    world = build_tiny_erp_world(root / "world")
    with start_services(world, None, root / "state", services=("erp",)) as sandbox:
        yield sandbox


def client(sandbox: RunningSandbox, **kwargs: object) -> RecordServiceClient:
    creds = ErpCredentials(sandbox.env["Q2C_ERP_BASE_URL"], sandbox.env["Q2C_ERP_TOKEN"])
    return RecordServiceClient(creds, base_wait=0.01, max_wait=0.2, poll_interval=0.02, **kwargs)


def journal(sandbox: RunningSandbox) -> list[dict]:
    url = sandbox.env["Q2C_ERP_BASE_URL"] + "/__sandbox/record-journal"
    return httpx.get(url).json()["items"]


def suiteql(sandbox: RunningSandbox, q: str) -> list[dict]:
    response = httpx.post(
        sandbox.env["Q2C_ERP_BASE_URL"] + "/services/rest/query/v1/suiteql",
        json={"q": q},
        headers={
            "Authorization": f"Bearer {sandbox.env['Q2C_ERP_TOKEN']}",
            "Prefer": "transient",
        },
    )
    return response.json()["items"]


def entry(
    external_id: str, cents: int, *, account_id: int = 2, period_id: int = 11
) -> JournalEntry:
    """A two-line invoice entry in USD, Nov 2026 (period 11 of the tiny world, open)."""
    amount = Decimal(cents).scaleb(-2)
    zero = Decimal("0.00")
    common = {"memo": "m", "entity": "cus_000001", "erp_entity_id": 1}
    common["source_ref"] = "billing:invoice:in_1"
    lines = (
        JournalLine(
            line_external_id=f"{external_id}-1",
            account="1200",
            erp_account_id=account_id,
            debit=amount,
            credit=zero,
            account_role="accounts_receivable",
            debit_minor=cents,
            credit_minor=0,
            **common,
        ),
        JournalLine(
            line_external_id=f"{external_id}-2",
            account="4000",
            erp_account_id=3,
            debit=zero,
            credit=amount,
            account_role="revenue",
            debit_minor=0,
            credit_minor=cents,
            **common,
        ),
    )
    return JournalEntry(
        external_id=external_id,
        entry_kind="invoice",
        trandate=date(2026, 11, 3),
        posting_period="Nov 2026",
        currency="USD",
        currency_decimals=2,
        erp_subsidiary_id=1,
        erp_currency_id=1,
        erp_period_id=period_id,
        memo="m",
        lines=lines,
    )


def ops_of(sandbox: RunningSandbox, external_ids: set[str]) -> list[tuple[str, str]]:
    return [
        (row["external_id"], row["operation"])
        for row in journal(sandbox)
        if row["external_id"] in external_ids
    ]


def test_upsert_posts_once_and_the_same_external_id_answers_the_same_record(
    erp: RunningSandbox,
) -> None:
    c = client(erp)
    try:
        e = entry("q2c-invoice-in_a1", 12_345)
        first = list(c.post([e]))
        second = list(c.post([e]))
    finally:
        c.close()
    assert [r.status for r in first] == ["posted"]
    assert second[0].erp_transaction_id == first[0].erp_transaction_id
    assert ops_of(erp, {e.external_id}) == [
        (e.external_id, "created"),
        (e.external_id, "unchanged"),
    ]
    rows = suiteql(
        erp,
        "SELECT t.type, t.externalid, l.debitforeignamount, l.creditforeignamount "
        "FROM transaction t JOIN transactionline l ON l.transaction = t.id "
        f"WHERE t.externalid = '{e.external_id}'",
    )
    sides = {(r.get("debitforeignamount", ""), r.get("creditforeignamount", "")) for r in rows}
    assert sides == {("", "123.45"), ("123.45", "")}
    assert {r["type"] for r in rows} == {"Journal"}


def test_async_batch_upsert_polls_the_job_and_reads_every_task_result(
    erp: RunningSandbox,
) -> None:
    entries = [entry(f"q2c-invoice-in_b{n:03d}", 1000 + n) for n in range(130)]
    c = client(erp, async_threshold=0)
    try:
        results = list(c.post(entries))
        again = list(c.post(entries))  # same chunks, same idempotency keys: the earlier jobs
    finally:
        c.close()
    assert sorted(r.external_id for r in results if r.status == "posted") == sorted(
        e.external_id for e in entries
    )
    ids = {e.external_id for e in entries}
    assert {r.erp_transaction_id for r in again} == {r.erp_transaction_id for r in results}
    rows = [r for r in journal(erp) if r["external_id"] in ids]
    assert len(rows) == 130  # the resubmission ran nothing
    assert {r["mode"] for r in rows} == {"async"} and {r["operation"] for r in rows} == {"created"}


@pytest.mark.parametrize(
    ("make", "code", "words"),
    [
        (lambda: entry("q2c-invoice-in_c1", 500, account_id=999), "INVALID_KEY_OR_REF", "account"),
        (lambda: entry("q2c-invoice-in_c2", 500, period_id=6), "USER_ERROR", "closed"),
    ],
)
def test_the_erp_rejects_unknown_references_and_closed_periods_in_its_error_shape(
    erp: RunningSandbox, make, code: str, words: str
) -> None:
    c = client(erp)
    try:
        (result,) = list(c.post([make()]))
    finally:
        c.close()
    assert result.status == "rejected" and result.error_code == code
    assert words in (result.error_detail or "")
    assert ops_of(erp, {result.external_id}) == [(result.external_id, "rejected")]


def test_an_unbalanced_entry_is_a_400_with_o_error_details(erp: RunningSandbox) -> None:
    from extractors.erp.records import entry_body, to_json

    e = entry("q2c-invoice-in_d1", 700)
    body = entry_body(replace(e, lines=(e.lines[0], replace(e.lines[1], credit=Decimal("6.99")))))
    response = httpx.put(
        erp.env["Q2C_ERP_BASE_URL"] + "/services/rest/record/v1/journalEntry/eid:q2c-invoice-in_d1",
        content=to_json(body),
        headers={"Authorization": f"Bearer {erp.env['Q2C_ERP_TOKEN']}"},
    )
    assert response.status_code == 400
    details = response.json()["o:errorDetails"]
    assert details[0]["o:errorCode"] == "USER_ERROR" and "debits" in details[0]["detail"]


def test_existing_finds_posted_entries_by_external_id(erp: RunningSandbox) -> None:
    c = client(erp)
    try:
        (posted,) = list(c.post([entry("q2c-invoice-in_e1", 900)]))
        found = c.existing(["q2c-invoice-in_e1", "q2c-invoice-in_nope"])
    finally:
        c.close()
    assert found == {"q2c-invoice-in_e1": posted.erp_transaction_id}


def test_concurrency_limit_429s_are_retried_with_backoff(erp: RunningSandbox) -> None:
    faults = erp.env["Q2C_ERP_BASE_URL"] + "/__sandbox/faults"
    httpx.put(faults, json={"concurrency_limit": 2, "slow_ms": 30})
    try:
        within = client(erp, max_in_flight=2)
        beyond = client(erp, max_in_flight=8)
        try:
            a = list(within.post([entry(f"q2c-invoice-in_f{n}", 100 + n) for n in range(12)]))
            b = list(beyond.post([entry(f"q2c-invoice-in_g{n}", 100 + n) for n in range(24)]))
        finally:
            within.close()
            beyond.close()
    finally:
        httpx.put(faults, json={"concurrency_limit": 5, "slow_ms": 0})
    assert within.retries == 0 and {r.status for r in a} == {"posted"} and len(a) == 12
    assert beyond.retries > 0 and {r.status for r in b} == {"posted"} and len(b) == 24
