"""Payout release through the billing stand-in (real HTTP, the official stripe SDK, DuckDB):
two connected accounts on a manual payout schedule, one verified and one with KYC
requirements due. The unverified one is held with its reason and nothing reaches the API for
it; the clean one is released once, also when the run is repeated or crashed after sending
(the stored idempotency key replays the same payout). The stand-in answers Stripe's way: same
key and parameters -> the same payout, other parameters -> 400 idempotency_error."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import stripe

from extractors.billing import BillingClient, BillingCredentials, BillingExtractor
from extractors.billing.payouts import StripePayoutClient
from q2c.compliance.holds import compute_holds, subjects_from_warehouse, write_holds
from q2c.compliance.payouts import OUTBOX, PayoutRefusedError, release_payouts
from q2c.policy import load_contract
from q2c.policy.model import Contract
from q2c.reports.evidence import EvidencePack, retry_and_replay, sample_traces
from q2c.warehouse import Warehouse
from sandbox.billing import create_app
from sandbox.billing.minimal_world import NOW, write_minimal_world
from sandbox.billing.serve import serve_in_thread

pytestmark = pytest.mark.integration

KEY = "sk_test_payouts"
CLEAN, UNVERIFIED = "acct_1CleanManual00", "acct_1UnverifiedMan0"


def _account(account_id: str, *, verified: bool) -> dict:
    due = [] if verified else ["individual.verification.document"]
    return {
        "id": account_id,
        "object": "account",
        "business_type": "individual",
        "charges_enabled": verified,
        "country": "US",
        "created": NOW - 100 * 86_400,
        "default_currency": "usd",
        "external_accounts": {
            "object": "list",
            "data": [
                {"id": f"ba_{account_id[5:]}", "currency": "usd", "default_for_currency": True}
            ],
        },
        "payouts_enabled": verified,
        "requirements": {
            "currently_due": due,
            "past_due": due,
            "pending_verification": [],
            "disabled_reason": None if verified else "requirements.past_due",
        },
        "settings": {"payouts": {"schedule": {"interval": "manual"}}},
        "type": "custom",
    }


def _transfer(n: int, destination: str, amount: int) -> dict:
    return {
        "id": f"tr_manual{n}",
        "object": "transfer",
        "amount": amount,
        "amount_reversed": 0,
        "created": NOW - 3 * 86_400 + n,
        "currency": "usd",
        "destination": destination,
        "livemode": False,
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    world_dir = tmp_path_factory.mktemp("payout_world")
    write_minimal_world(world_dir)
    bodies = [
        _account(CLEAN, verified=True),
        _account(UNVERIFIED, verified=False),
        _transfer(1, CLEAN, 120_000),
        _transfer(2, CLEAN, 3_450),
        _transfer(3, UNVERIFIED, 77_700),
    ]
    con = sqlite3.connect(world_dir / "billing.sqlite")
    with con:
        con.executemany(
            "INSERT INTO objects(object, id, created, deleted, body) VALUES (?, ?, ?, 0, ?)",
            [(b["object"], b["id"], b["created"], json.dumps(b)) for b in bodies],
        )
    con.close()
    return world_dir


@pytest.fixture(scope="module")
def base_url(world: Path) -> Iterator[str]:
    with serve_in_thread(create_app(world)) as url:
        yield url


@pytest.fixture(scope="module")
def contract() -> Contract:
    """The shipped contract with an AML screening source (the sandbox contract has none, so
    every payout would be held for AML)."""
    data = load_contract().model_dump()
    data["compliance"]["status_sources"] = {"aml": "ops.aml_screenings"}
    return Contract.model_validate(data)


@pytest.fixture(scope="module")
def wh(
    base_url: str, contract: Contract, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    db = tmp_path_factory.mktemp("payout_wh") / "warehouse.duckdb"
    creds = BillingCredentials(api_base=base_url, api_key=KEY)
    with Warehouse.from_url(f"duckdb:///{db}") as warehouse:
        BillingExtractor(BillingClient(creds), warehouse, run_id="land").extract_object("account")
        warehouse.ensure_schema("ops")
        warehouse.execute("create table ops.aml_screenings (subject_id text, status text)")
        warehouse.execute(
            "insert into ops.aml_screenings values (?, 'clear'), (?, 'clear')", [CLEAN, UNVERIFIED]
        )
        holds = compute_holds(contract, subjects_from_warehouse(warehouse, contract))
        write_holds(warehouse, holds, "holds")
        yield warehouse


def _payout_writes(base_url: str) -> list[dict]:
    writes = httpx.get(f"{base_url}/__sandbox/writes").json()
    return [w for w in writes if w["path"] == "/v1/payouts"]


def _release(wh: Warehouse, contract: Contract, base_url: str, tmp_path: Path, run: str):
    client = StripePayoutClient(BillingCredentials(api_base=base_url, api_key=KEY))
    return release_payouts(wh, contract, client, run_id=run, home=tmp_path)


def test_held_account_is_not_released_and_the_clean_one_once(
    wh: Warehouse, contract: Contract, base_url: str, tmp_path: Path
) -> None:
    data = contract.model_dump()
    data["rollout"]["connected_account_payouts"]["phase"] = "read_only"
    read_only = Contract.model_validate(data)
    dry = _release(wh, read_only, base_url, tmp_path, "dry")
    assert [w["amount"] for w in dry.would_write] == [123_450] and not _payout_writes(base_url)

    first = _release(wh, contract, base_url, tmp_path, "run-1")
    assert [(r["account_id"], r["currency"], r["amount"]) for r in first.released] == [
        (CLEAN, "usd", 123_450)
    ]
    assert UNVERIFIED in first.held and CLEAN not in first.held
    assert any(
        "payout_requires_verified_kyc (requirements_due)" in reason
        and "may not receive payouts" in reason
        for reason in first.held[UNVERIFIED]
    )
    writes = _payout_writes(base_url)
    assert [(w["stripe_account"], w["replayed"]) for w in writes] == [(CLEAN, False)]
    assert writes[0]["idempotency_key"] == first.released[0]["idempotency_key"]

    again = _release(wh, contract, base_url, tmp_path, "run-2")
    assert not again.released and UNVERIFIED in again.held
    assert len(_payout_writes(base_url)) == 1

    # a run that crashed after sending, before recording: the next one sends the stored key again
    wh.execute(f"update {OUTBOX} set status = 'pending', payout_id = null")
    healed = _release(wh, contract, base_url, tmp_path, "run-3")
    assert [r["payout_id"] for r in healed.released] == [first.released[0]["payout_id"]]
    writes = _payout_writes(base_url)
    assert [(w["stripe_account"], w["replayed"]) for w in writes] == [
        (CLEAN, False),
        (CLEAN, True),
    ]

    # Stripe's idempotency: the same key and parameters answer the same payout (even with the
    # balance now spent); the same key with other parameters is a 400 idempotency_error
    client = stripe.StripeClient(KEY, base_addresses={"api": base_url}, max_network_retries=0)
    key = first.released[0]["idempotency_key"]
    opts = {"stripe_account": CLEAN, "idempotency_key": key}
    params = {"amount": 123_450, "currency": "usd", "metadata": {"q2c_release": key}}
    assert client.v1.payouts.create(params, options=opts).id == first.released[0]["payout_id"]
    with pytest.raises(stripe.IdempotencyError):
        client.v1.payouts.create({**params, "amount": 1}, options=opts)
    assert len(_payout_writes(base_url)) == 3  # one payout, two replays

    audit = wh.fetchall(
        "select action, object_id, target_id, detail from ops.audit_trail"
        " where flow = 'connected_account_payouts' order by seq"
    )
    held = [a for a in audit if a[0] == "held_by_gate"]
    assert [a[1] for a in held] == [UNVERIFIED], "one held event per distinct reason set"
    assert "requirements_due" in held[0][3]
    written = [a for a in audit if a[0] == "written"]
    assert {(a[1], a[2]) for a in written} == {(CLEAN, first.released[0]["payout_id"])}
    assert [a[0] for a in audit].count("would_write") == 1


def test_the_stand_in_honours_stripe_account_and_idempotency_keys(base_url: str) -> None:
    client = stripe.StripeClient(KEY, base_addresses={"api": base_url}, max_network_retries=0)
    payouts = StripePayoutClient(BillingCredentials(base_url, KEY), stripe_client=client)
    with pytest.raises(PayoutRefusedError) as refused:
        payouts.create_payout(UNVERIFIED, 100, "usd", idempotency_key="k-unverified", metadata={})
    assert refused.value.code == "payouts_not_allowed"
    assert payouts.available_balance(UNVERIFIED) == {"usd": 77_700}
    with pytest.raises(PayoutRefusedError) as refused:
        payouts.create_payout(CLEAN, 10**9, "usd", idempotency_key="k-too-much", metadata={})
    assert refused.value.code == "balance_insufficient"

    missing = {"stripe_account": "acct_1NoSuchAccount0", "idempotency_key": "k-x"}
    with pytest.raises(stripe.PermissionError):
        client.v1.payouts.create({"amount": 5, "currency": "usd"}, options=missing)


def test_the_evidence_pack_traces_the_held_and_the_released_payout(
    wh: Warehouse, contract: Contract, base_url: str, tmp_path: Path
) -> None:
    _release(wh, contract, base_url, tmp_path, "run-ev")  # nothing new if already released
    pack = EvidencePack()
    sample_traces(pack, wh)
    held = json.loads(pack.files["traces/blocked_payout.json"])
    assert held["query"] == UNVERIFIED
    assert [e["action"] for e in held["audit"]] == ["held_by_gate"]
    released = json.loads(pack.files["traces/released_payout.json"])
    assert released["query"].startswith("po_") and CLEAN in released["ids"]
    assert "written" in [e["action"] for e in released["audit"]]
    assert set(pack.missing) == {"traces/exported_invoice.json", "traces/written_account.json"}
    design = retry_and_replay(contract)
    assert "## Payout release" in design and "connected_account_payouts" in design
