"""VAT validation (stdnum + a VIES checker through the protocol) and the compliance gates."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from q2c.compliance import (
    VAT_STATUSES,
    ViesAnswer,
    ViesChecker,
    ViesRejectedError,
    ViesUnavailableError,
    check_vat,
    connected_account_statuses,
    evaluate,
)
from q2c.compliance.gates import NO_STATUS
from q2c.policy import load_contract

pytestmark = pytest.mark.unit

CONTRACT = load_contract()
ACCOUNT = "connected_account"


@dataclass
class RegistryChecker:
    """An in-memory VIES: a set of registered numbers, or an error to raise."""

    registered: set[str] = field(default_factory=set)
    error: Exception | None = None
    calls: list[tuple[str, str]] = field(default_factory=list)

    def check(self, country_code: str, vat_number: str) -> ViesAnswer:
        self.calls.append((country_code, vat_number))
        if self.error is not None:
            raise self.error
        return ViesAnswer(
            country_code,
            vat_number,
            country_code + vat_number in self.registered,
            "2026-11-01T00:00:00.000Z",
            "---",
            "---",
        )


def test_vat_statuses_are_the_contract_vocabulary() -> None:
    assert set(VAT_STATUSES) == set(CONTRACT.compliance.statuses["vat"])


def test_registry_checker_satisfies_the_protocol() -> None:
    assert isinstance(RegistryChecker(), ViesChecker)


@pytest.mark.parametrize(
    ("number", "country", "status"),
    [
        (None, "DE", "missing"),
        ("  ", "DE", "missing"),
        ("123456789", "US", "not_applicable"),
        ("GB980780684", "GB", "not_applicable"),
        ("DE13669597", "DE", "invalid_format"),
        ("DEX36695976", "DE", "invalid_format"),
        ("DE136695977", "DE", "invalid_checksum"),
        ("DE 136.695.976", "DE", "unverified"),
        ("094259216", "GR", "unverified"),
    ],
)
def test_format_and_checksum_without_vies(number: str | None, country: str, status: str) -> None:
    assert check_vat(number, country).status == status


def test_vies_registered_number_is_valid_and_asked_without_prefix() -> None:
    vies = RegistryChecker({"DE136695976"})
    result = check_vat("de 136 695 976", "DE", vies)
    assert (result.status, result.valid, result.number) == ("valid", True, "DE136695976")
    assert vies.calls == [("DE", "136695976")]
    assert result.vies_request_date == "2026-11-01T00:00:00.000Z"


def test_greek_numbers_use_el_for_vies() -> None:
    vies = RegistryChecker({"EL094259216"})
    assert check_vat("GR094259216", "GR", vies).status == "valid"
    assert vies.calls == [("EL", "094259216")]


def test_checksum_valid_but_unregistered_is_vies_invalid() -> None:
    result = check_vat("DE136695976", "DE", RegistryChecker())
    assert (result.status, result.format_valid, result.checksum_valid, result.vies_valid) == (
        "vies_invalid",
        True,
        True,
        False,
    )


def test_bad_checksum_never_asks_vies() -> None:
    vies = RegistryChecker({"DE136695977"})
    assert check_vat("DE136695977", "DE", vies).status == "invalid_checksum"
    assert vies.calls == []


def test_vies_down_is_vies_unavailable_and_rejection_is_invalid_format() -> None:
    down = RegistryChecker(error=ViesUnavailableError("MS_UNAVAILABLE"))
    assert check_vat("DE136695976", "DE", down).status == "vies_unavailable"
    rejected = RegistryChecker(error=ViesRejectedError("INVALID_INPUT"))
    assert check_vat("DE136695976", "DE", rejected).status == "invalid_format"


@pytest.mark.parametrize(
    ("status", "blocked"),
    [
        ("valid", False),
        ("unverified", True),
        ("vies_invalid", True),
        ("vies_unavailable", True),
        ("not_applicable", False),
        ("missing", True),
    ],
)
def test_reverse_charge_and_activation_need_a_valid_vat(status: str, blocked: bool) -> None:
    for action in ("reverse_charge_invoicing", "activation"):
        decision = evaluate(CONTRACT, {"vat": status}, action, subject="customer")
        assert decision.allowed is not blocked
    assert evaluate(CONTRACT, {"vat": status}, "payout_release", subject="customer").allowed


def test_unverified_connected_account_blocks_payout_release_with_reason_and_next_step() -> None:
    decision = evaluate(
        CONTRACT,
        {"kyc": "requirements_due", "kyb": "verified", "aml": "clear"},
        "payout_release",
        subject="connected_account",
    )
    assert not decision.allowed
    (block,) = decision.blocks
    assert block.gate == "payout_requires_verified_kyc"
    assert "requirements.currently_due" in block.next_step
    assert "payout_release blocked by payout_requires_verified_kyc (kyc=requirements_due)" in (
        decision.explain()
    )
    assert evaluate(
        CONTRACT,
        {"kyc": "verified", "kyb": "verified", "aml": "clear"},
        "payout_release",
        subject="connected_account",
    ).allowed


def test_aml_hit_blocks_payouts_activation_and_the_crm_write_back() -> None:
    verified = {"kyc": "verified", "kyb": "verified"}
    for action in ("payout_release", "activation", "writeback"):
        decision = evaluate(CONTRACT, {**verified, "aml": "match"}, action, subject=ACCOUNT)
        assert not decision.allowed
    (block,) = evaluate(
        CONTRACT, {**verified, "aml": "under_review"}, "writeback", subject=ACCOUNT
    ).blocks
    assert block.gate == "aml_review_stays_out_of_the_crm" and "tipping off" in block.reason


def test_unknown_status_action_or_check_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown kyc status 'ok'"):
        evaluate(CONTRACT, {"kyc": "ok"}, "payout_release", subject=ACCOUNT)
    with pytest.raises(ValueError, match="unknown action 'refund'"):
        evaluate(CONTRACT, {"kyc": "verified"}, "refund", subject=ACCOUNT)
    with pytest.raises(ValueError, match="unknown check 'pep'"):
        evaluate(CONTRACT, {"pep": "clear"}, "payout_release", subject=ACCOUNT)


@pytest.mark.parametrize(
    ("account", "expected"),
    [
        (
            {
                "business_type": "individual",
                "payouts_enabled": True,
                "requirements": {"currently_due": [], "pending_verification": []},
            },
            {"kyc": "verified", "kyb": "verified"},
        ),
        (
            {
                "business_type": "company",
                "payouts_enabled": False,
                "requirements": {"currently_due": ["company.tax_id"], "pending_verification": []},
            },
            {"kyc": "requirements_due", "kyb": "requirements_due"},
        ),
        (
            {
                "business_type": "company",
                "payouts_enabled": False,
                "requirements": {
                    "currently_due": [],
                    "pending_verification": ["representative.verification.document"],
                },
            },
            {"kyc": "pending", "kyb": "pending"},
        ),
        (
            {
                "business_type": "individual",
                "payouts_enabled": False,
                "requirements": {"disabled_reason": "rejected.fraud"},
            },
            {"kyc": "rejected", "kyb": "rejected"},
        ),
        (
            {
                "business_type": "company",
                "payouts_enabled": True,
                "requirements": {"currently_due": ["company.address.line1"]},
            },
            {"kyc": "verified", "kyb": "requirements_due"},
        ),
    ],
)
def test_statuses_derived_from_a_stripe_connected_account(account: dict, expected: dict) -> None:
    statuses = connected_account_statuses(account)
    assert statuses == expected
    for check, status in statuses.items():
        assert status in CONTRACT.compliance.statuses[check]


def test_a_missing_status_holds_the_payout_fail_closed() -> None:
    # no AML screening recorded for a verified account: the AML gate holds its payout
    decision = evaluate(
        CONTRACT, {"kyc": "verified", "kyb": "verified"}, "payout_release", subject=ACCOUNT
    )
    (block,) = decision.blocks
    assert (block.gate, block.check, block.status) == ("payout_blocked_by_aml", "aml", NO_STATUS)
    assert "fail-closed" in block.reason
    # no status at all: every payout gate holds
    gates = {b.gate for b in evaluate(CONTRACT, {}, "payout_release", subject=ACCOUNT).blocks}
    assert gates == {
        "payout_requires_verified_kyc",
        "payout_requires_verified_kyb",
        "payout_blocked_by_aml",
    }


def test_a_gate_may_let_a_missing_status_through_when_the_contract_says_so() -> None:
    data = CONTRACT.model_dump()
    data["compliance"]["gates"]["payout_blocked_by_aml"]["on_missing"] = "allow"
    contract = type(CONTRACT).model_validate(data)
    statuses = {"kyc": "verified", "kyb": "verified"}
    assert evaluate(contract, statuses, "payout_release", subject=ACCOUNT).allowed
    assert not evaluate(
        contract, {**statuses, "aml": "match"}, "payout_release", subject=ACCOUNT
    ).allowed


def test_an_unverifiable_vat_number_does_not_activate_and_no_vat_status_holds_too() -> None:
    for statuses in ({"vat": "vies_unavailable"}, {}):
        decision = evaluate(CONTRACT, statuses, "activation", subject="customer")
        assert not decision.allowed
        assert {b.gate for b in decision.blocks} == {"eu_vat_must_be_valid"}
