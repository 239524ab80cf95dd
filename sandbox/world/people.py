"""Personal and tax data that looks real: names, addresses, phones, VAT numbers, bank accounts.

Faker supplies names, addresses and phones (one seeded instance per locale, reseeded per company
so that each company's data follows from the seed alone). EU VAT numbers are built to pass
`stdnum.eu.vat` (the check characters are found by trying each candidate), and
`invalid_vat` breaks one so that it fails, for the `invalid_eu_vat` discrepancy.
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass

from faker import Faker
from stdnum.eu import vat as eu_vat

from sandbox.world.config import COUNTRIES

_DIGITS = "0123456789"


@dataclass(frozen=True)
class Company:
    """A company's public and personal details."""

    name: str
    domain: str
    street: str
    city: str
    postcode: str
    country: str
    phone: str


@dataclass(frozen=True)
class Person:
    """A contact person."""

    first_name: str
    last_name: str
    email: str
    phone: str
    title: str


def _hash_seed_free(fk: Faker) -> Faker:
    """Make `fk` draw the same values in every process.

    Some locales build their city list from a set (Faker's it_IT: `list({...})`), whose order
    follows PYTHONHASHSEED; the same seed then picked other cities in another process.
    """
    for provider in fk.providers:
        cities = getattr(provider, "cities", None)
        if isinstance(cities, list):
            provider.cities = sorted(cities)
    return fk


class People:
    """Seeded Faker instances, one per locale the world uses."""

    _fakers: dict[str, Faker] | None = None

    def __init__(self) -> None:
        # building the locales costs about a second; every world (and day) reseeds them anyway
        if People._fakers is None:
            People._fakers = {loc: _hash_seed_free(Faker(loc)) for loc, *_ in COUNTRIES.values()}
        self.fakers = People._fakers

    def faker(self, country: str, seed: int) -> Faker:
        """The Faker of `country`'s locale, reseeded with `seed`."""
        fk = self.fakers[COUNTRIES[country][0]]
        fk.seed_instance(seed)
        return fk

    def company(self, fk: Faker, country: str) -> Company:
        """A company with a web domain derived from its name."""
        name = fk.company()
        return Company(
            name=name,
            domain=_slug(name)[:24]
            + "."
            + (
                "com"
                if country in ("US", "IE")
                else "co.uk"
                if country == "GB"
                else country.lower()
            ),
            street=fk.street_address(),
            city=fk.city(),
            postcode=fk.postcode(),
            country=country,
            phone=fk.phone_number(),
        )

    def person(self, fk: Faker, domain: str) -> Person:
        """A person working at the company of `domain`."""
        first, last = fk.first_name(), fk.last_name()
        return Person(
            first_name=first,
            last_name=last,
            email=f"{_slug(first)}.{_slug(last)}@{domain}",
            phone=fk.phone_number(),
            title=fk.job()[:128],
        )


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", ascii_text.lower()) or "x"


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choices(_DIGITS, k=n))


def _complete(prefix: str, body: str, endings: list[str], tail: str = "") -> str:
    for end in endings:
        candidate = prefix + body + end + tail
        if eu_vat.is_valid(candidate):
            return candidate
    raise ValueError("no check character completes " + prefix)  # pragma: no cover


def valid_vat(rng: random.Random, country: str) -> str:
    """An EU VAT number of `country` that `stdnum.eu.vat` accepts."""
    while True:
        try:
            if country == "DE":
                return _complete("DE", str(rng.randint(1, 9)) + _digits(rng, 7), list(_DIGITS))
            if country == "FR":
                siren = _luhn_complete(str(rng.randint(1, 9)) + _digits(rng, 7))
                key = (12 + 3 * (int(siren) % 97)) % 97
                return f"FR{key:02d}{siren}"
            if country == "NL":
                return _complete("NL", _digits(rng, 8), list(_DIGITS), "B01")
            if country == "IE":
                return _complete("IE", _digits(rng, 7), list("ABCDEFGHIJKLMNOPQRSTUVW"))
            if country == "ES":
                return _complete("ESB", _digits(rng, 7), list(_DIGITS))
            if country == "IT":
                body = _digits(rng, 7) + f"{rng.randint(1, 100):03d}"
                return _complete("IT", body, list(_DIGITS))
        except ValueError:
            continue  # this body has no valid completion; draw another
        raise ValueError(f"no VAT numbers for {country}")


def _luhn_complete(body: str) -> str:
    for d in _DIGITS:
        total = 0
        for i, ch in enumerate(reversed(body + d)):
            n = int(ch)
            if i % 2:
                n = n * 2 - 9 if n > 4 else n * 2
            total += n
        if total % 10 == 0:
            return body + d
    raise ValueError("no luhn digit")  # pragma: no cover


def invalid_vat(rng: random.Random, number: str) -> str:
    """`number` with its last check character changed so that validation fails."""
    head, last = number[:-1], number[-1]
    pool = [c for c in (_DIGITS if last.isdigit() else "ABCDEFGHIJKLMNOPQRSTUVW") if c != last]
    rng.shuffle(pool)
    for c in pool:
        if not eu_vat.is_valid(head + c):
            return head + c
    return head[:-1] + ("0" if head[-1] != "0" else "1") + last  # pragma: no cover


def us_ein(rng: random.Random) -> str:
    """A US employer identification number (NN-NNNNNNN)."""
    return f"{rng.randint(10, 99)}-{_digits(rng, 7)}"


def gb_vat(rng: random.Random) -> str:
    """A UK VAT number whose mod-97 check passes (`stdnum.gb.vat`)."""
    from stdnum.gb import vat as gb

    while True:
        candidate = "GB" + str(rng.randint(1, 9)) + _digits(rng, 6)
        for d in range(100):
            number = candidate + f"{d:02d}"
            if gb.is_valid(number):
                return number


def bank_account(fk: Faker, rng: random.Random, country: str) -> dict[str, str]:
    """A payee bank account: an IBAN in Europe, account and routing numbers in the US."""
    if country == "US":
        return {
            "account_number": _digits(rng, 4) + _digits(rng, rng.randint(6, 8)),
            "routing_number": fk.aba(),
        }
    return {"iban": fk.iban()}
