"""Compliance holds that hold, on a copy of the S world's DuckDB build: the `compliance/holds`
asset evaluates every connected account and business customer against the contract's gates
and writes `reconciliation.compliance_holds`; an unverified account's payout is held with its
reason, a missing AML status holds (fail-closed) until a screening source says clear, a VIES
outage does not activate, and the holds are in the period report."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from orchestration.assets.compliance import compliance_holds
from orchestration.resources import WarehouseResource
from q2c.compliance.holds import compute_holds, subjects_from_warehouse, write_holds
from q2c.policy import load_contract
from q2c.reports import Period, build_report
from q2c.warehouse import Warehouse
from tests.support.reports import s_duckdb

pytestmark = pytest.mark.integration


@pytest.fixture
def db(world_s: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(s_duckdb(world_s, tmp_path_factory), copy)
    return copy


@pytest.fixture
def wh(db: Path) -> Iterator[Warehouse]:
    with Warehouse.from_url(f"duckdb:///{db}") as warehouse:
        yield warehouse


def _holds(wh: Warehouse) -> dict[tuple[str, str, str], tuple[str, str, str]]:
    return {
        (r[0], r[1], r[2]): (r[3], r[4], r[5])
        for r in wh.fetchall(
            "select subject_id, action, gate, status, reason, next_step"
            " from reconciliation.compliance_holds"
        )
    }


def test_the_asset_holds_unverified_payouts_and_fails_closed_on_missing_aml(db: Path) -> None:
    result = dg.materialize(
        [compliance_holds],
        resources={"warehouse": WarehouseResource(url=f"duckdb:///{db}")},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    with Warehouse.from_url(f"duckdb:///{db}") as wh:
        holds = _holds(wh)
        accounts = {
            r[0]: r[1]
            for r in wh.fetchall(
                "select connected_account_id, past_due_count + currently_due_count"
                " from staging.stg_billing__connected_accounts where not is_deleted"
            )
        }
    unverified = [a for a, due in accounts.items() if due]
    assert unverified, "the S world has a connected account with requirements due"
    for account in unverified:
        status, reason, next_step = holds[
            (account, "payout_release", "payout_requires_verified_kyc")
        ]
        assert status == "requirements_due"
        assert "may not receive payouts" in reason and "currently_due" in next_step
    # no AML source in the contract: every account's payouts are held, and not written to the CRM
    for account in accounts:
        status, reason, _ = holds[(account, "payout_release", "payout_blocked_by_aml")]
        assert status == "no_status" and "fail-closed" in reason
        assert (account, "writeback", "aml_review_stays_out_of_the_crm") in holds


def test_an_aml_source_in_the_contract_releases_clear_accounts_and_holds_hits(
    wh: Warehouse,
) -> None:
    data = load_contract().model_dump()
    data["compliance"]["status_sources"] = {"aml": "ops.aml_screenings"}
    contract = type(load_contract()).model_validate(data)
    accounts = [r[0] for r in wh.fetchall("select object_id from raw.billing__account")]
    wh.execute("create table ops.aml_screenings (subject_id text, status text)")
    for i, account in enumerate(sorted(set(accounts))):
        wh.execute(
            "insert into ops.aml_screenings values (?, ?)",
            [account, "match" if i == 0 else "clear"],
        )
    write_holds(wh, compute_holds(contract, subjects_from_warehouse(wh, contract)), "run-1")
    aml = {k[0]: v[0] for k, v in _holds(wh).items() if k[2] == "payout_blocked_by_aml"}
    hit = sorted(set(accounts))[0]
    assert aml == {hit: "match"}


def test_a_vies_outage_does_not_activate_and_the_hold_is_in_the_report(wh: Warehouse) -> None:
    (customer,) = wh.fetchone(
        "select customer_id from staging.stg_billing__customers"
        " where tax_id_type = 'eu_vat' and tax_id_verification_status = 'verified'"
        " order by customer_id limit 1"
    )
    # VIES did not answer Stripe's check: the landed customer's EU VAT id says `unavailable`
    for ref, payload in wh.fetchall(
        "select provider_ref, payload from raw.billing__customer where object_id = ?", [customer]
    ):
        body = payload if isinstance(payload, dict) else json.loads(payload)
        for tax_id in body["tax_ids"]["data"]:
            if tax_id["type"] == "eu_vat":
                tax_id["verification"]["status"] = "unavailable"
        wh.execute(
            "update raw.billing__customer set payload = ? where object_id = ?"
            " and provider_ref is not distinct from ?",
            [json.dumps(body), customer, ref],
        )
    contract = load_contract()
    write_holds(wh, compute_holds(contract, subjects_from_warehouse(wh, contract)), "run-1")
    holds = _holds(wh)
    status, _, next_step = holds[(customer, "activation", "eu_vat_must_be_valid")]
    assert status == "vies_unavailable" and "retried automatically" in next_step
    section = build_report(wh, contract, Period(2026, 10), run_id="t").section("compliance_holds")
    assert section.status == "ok" and "reconciliation.compliance_holds" in section.sources
    shown = {(r["subject_id"], r["action"], r["gate"]) for r in section.rows}
    assert shown == set(holds)
