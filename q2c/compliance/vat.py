"""EU VAT number validation: format and checksum with `python-stdnum`, then a VIES check.

`check_vat(number, country, vies)` returns a `VatCheck` whose `status` is one of the contract's
`compliance.statuses.vat` words, which the `eu_vat_must_be_valid` gate reads:

| status | meaning |
|---|---|
| `missing` | no number given |
| `not_applicable` | the country is not an EU VAT area (VIES does not cover it) |
| `invalid_format` | wrong characters or length (`stdnum` InvalidFormat, Length, Component) |
| `invalid_checksum` | the check digits do not match (`stdnum` InvalidChecksum) |
| `unverified` | format and checksum fine; VIES was not asked (no checker given) |
| `vies_unavailable` | VIES (or the member state behind it) did not answer; retry later |
| `vies_invalid` | VIES says the number is not registered |
| `valid` | format, checksum and VIES all agree |

VIES is reached through the `ViesChecker` protocol so the core never imports an HTTP client;
`extractors.vies.HttpViesChecker` implements it against the EU's REST API (or the sandbox
stand-in at `$Q2C_VIES_URL`). The VIES `name` and `address` are kept on the result for the
people who need them and are PII: mask before logging.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from stdnum import exceptions as stdnum_errors
from stdnum.eu import vat as eu_vat

#: VIES member-state codes (Greece is EL in VAT numbers; XI is Northern Ireland)
VIES_COUNTRIES = frozenset(
    "AT BE BG CY CZ DE DK EE EL ES FI FR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK XI".split()
)
VAT_STATUSES = (
    "valid",
    "missing",
    "not_applicable",
    "invalid_format",
    "invalid_checksum",
    "unverified",
    "vies_invalid",
    "vies_unavailable",
)
_SEPARATORS = re.compile(r"[\s.\-/,]")


@dataclass(frozen=True)
class ViesAnswer:
    """VIES's answer for one number (`POST /check-vat-number`)."""

    country_code: str
    vat_number: str
    valid: bool
    request_date: str
    name: str | None = None
    address: str | None = None


class ViesUnavailableError(RuntimeError):
    """VIES or the member state's service did not answer (after the adapter's retries)."""


class ViesRejectedError(ValueError):
    """VIES refused the request as invalid input (`INVALID_INPUT`)."""


@runtime_checkable
class ViesChecker(Protocol):
    """Asks VIES whether a VAT number is registered."""

    def check(self, country_code: str, vat_number: str) -> ViesAnswer:
        """VIES's answer for `vat_number` (without the country prefix) in `country_code`.

        Raises:
            ViesUnavailableError: no answer after retries.
            ViesRejectedError: VIES rejected the input.
        """
        ...


@dataclass(frozen=True)
class VatCheck:
    """The result of `check_vat`."""

    country_code: str
    number: str  # compact, with the VIES country prefix (`DE136695976`)
    status: str
    format_valid: bool
    checksum_valid: bool
    vies_valid: bool | None
    detail: str
    vies_request_date: str | None = None
    vies_name: str | None = None
    vies_address: str | None = None

    @property
    def valid(self) -> bool:
        return self.status == "valid"


def vies_country(country: str) -> str:
    """ISO country -> VIES code (`GR` -> `EL`), upper-cased."""
    code = country.strip().upper()
    return "EL" if code == "GR" else code


def check_vat(number: str | None, country: str, vies: ViesChecker | None = None) -> VatCheck:
    """Validate an EU VAT number: format and checksum, then VIES when a checker is given.

    Args:
        number: the number as the customer typed it, with or without the country prefix.
        country: the customer's country (ISO 3166 alpha-2, `GR` or `EL` for Greece).
        vies: the VIES checker; `None` stops at format and checksum (status `unverified`).

    Returns:
        The result; `status` is one of `VAT_STATUSES`.
    """
    cc = vies_country(country)
    raw = _SEPARATORS.sub("", number or "").upper()
    if not raw:
        return VatCheck(cc, "", "missing", False, False, None, "no VAT number given")
    if cc not in VIES_COUNTRIES:
        return VatCheck(
            cc, raw, "not_applicable", False, False, None, f"{cc} is not covered by EU VIES"
        )
    body = raw[2:] if raw[:2] in (cc, "GR" if cc == "EL" else cc) else raw
    full = cc + body
    try:
        eu_vat.validate(full)
    except stdnum_errors.InvalidChecksum:
        return VatCheck(
            cc, full, "invalid_checksum", True, False, None, "the check digits do not match"
        )
    except stdnum_errors.ValidationError as exc:  # InvalidFormat, InvalidLength, Component
        return VatCheck(
            cc, full, "invalid_format", False, False, None, f"not a {cc} VAT number: {exc}"
        )
    if vies is None:
        return VatCheck(
            cc, full, "unverified", True, True, None, "format and checksum valid; VIES not asked"
        )
    try:
        answer = vies.check(cc, body)
    except ViesUnavailableError as exc:
        return VatCheck(
            cc, full, "vies_unavailable", True, True, None, f"VIES did not answer: {exc}"
        )
    except ViesRejectedError as exc:
        return VatCheck(
            cc, full, "invalid_format", True, True, False, f"VIES rejected the number: {exc}"
        )
    return VatCheck(
        cc,
        full,
        "valid" if answer.valid else "vies_invalid",
        True,
        True,
        answer.valid,
        "registered in VIES" if answer.valid else "VIES does not know this number",
        vies_request_date=answer.request_date,
        vies_name=answer.name,
        vies_address=answer.address,
    )
