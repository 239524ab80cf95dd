"""Free-text scrubbing: sensitive values that appear inside strings (memos, descriptions, log
messages, error texts).

Pattern kinds, named by the contract's sensitivity classes (`scrub:`): `email`, `phone`, `iban`,
`account_number` (bare digit runs of 8+ digits), `vat` (EU VAT numbers with their country
prefix), `tin` (US SSN/ITIN `123-45-6789` and EIN `12-3456789`). Each match becomes a marker
such as `[email]`. Exact values the record itself holds in sensitive fields are replaced too
(`[redacted]`), which catches names, which no pattern can.

False positives are preferred to leaks, but amounts (`1234567.89`) and ISO dates/times are
never taken for phone numbers, because exports carry them as strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# \w: local parts and domains may hold non-ASCII letters (`spieß@...`, IDN domains)
_EMAIL = re.compile(r"[\w.%+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[^\W\d_]{2,}")
_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?(?![A-Za-z0-9])"
)
_VAT = re.compile(
    r"(?<![A-Za-z0-9_])(?:AT|BE|BG|CY|CZ|DE|DK|EE|EL|GR|ES|FI|FR|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|"
    r"PT|RO|SE|SI|SK|XI|GB|CHE)[ \-]?(?=[0-9A-Z .\-]{8,16})(?=(?:[^0-9]*[0-9]){7})"
    r"[0-9A-Z][0-9A-Z .\-]{6,14}[0-9A-Z](?![A-Za-z0-9_])"
)
_TIN = re.compile(r"(?<![\w-])(?:\d{3}-\d{2}-\d{4}|\d{2}-\d{7})(?![\w-])")
# international prefix, optional area code in parentheses, 2+ groups of digits split by
# space, dot or dash, optional extension; checked below for 8+ digits and not a date/amount
_PHONE = re.compile(
    r"(?<![\w.+])(?:(?:\+|00)\d{1,3}[\s.\-]?)?(?:\+?\(\+?\d{1,5}\)[\s.\-/]?)?\d{1,12}"
    r"(?:(?:[\s.\-]|/)\d{1,12}){0,5}(?:\s*(?:x|ext\.?)\s*\d{1,6})?(?![\w])"
)
# bare digit runs (8+ digits, spaces or dashes allowed) and BBAN-style letter-prefixed ones
_DIGITS = re.compile(r"(?<![\w.])(?:[A-Z]{1,4}[ \-]?)?\d(?:[ \-]?\d){7,}(?:[A-Z]{1,2})?(?![\w])")
_ANY_DIGIT = re.compile(r"\d")
_UUID = re.compile(
    r"(?<![0-9A-Fa-f-])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"(?![0-9A-Fa-f-])"
)
_HELD = re.compile("\x00(\\d+)\x00")
_DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}|^\d{2}[./]\d{2}[./]\d{4}$")
_AMOUNT_LIKE = re.compile(r"^-?\d+(?:[.,]\d{1,2})?$")


def _phone_ok(text: str) -> bool:
    digits = sum(ch.isdigit() for ch in text)
    if digits < 8 or _DATE_LIKE.match(text) or _AMOUNT_LIKE.match(text):
        return False
    # a bare run without separators or a leading + is a number, left to `account_number`
    return any(ch in text for ch in " .-/()+x")


def _sub_phone(text: str) -> str:
    return _PHONE.sub(lambda m: "[phone]" if _phone_ok(m.group(0)) else m.group(0), text)


def _sub_digits(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        s = m.group(0)
        return s if _DATE_LIKE.match(s) else "[account_number]"

    return _DIGITS.sub(repl, text)


# order matters: longer, more specific shapes first so an IBAN is not half-taken as a phone
_ORDER = ("email", "iban", "vat", "tin", "phone", "account_number")
_SUBS = {
    "email": lambda t: _EMAIL.sub("[email]", t),
    "iban": lambda t: _IBAN.sub("[iban]", t),
    "vat": lambda t: _VAT.sub("[vat]", t),
    "tin": lambda t: _TIN.sub("[tin]", t),
    "phone": _sub_phone,
    "account_number": _sub_digits,
}
ALL_KINDS: frozenset[str] = frozenset(_ORDER)


def scrub_text(
    text: str, kinds: Iterable[str] = ALL_KINDS, known_values: Iterable[str] = ()
) -> str:
    """Replace sensitive values inside `text`.

    Args:
        text: any string.
        kinds: which pattern kinds to apply (default: all).
        known_values: exact values to remove wherever they appear (longest first).

    Returns:
        The text with each match replaced by a marker.
    """
    return scrub_sorted(text, kinds, sorted({v for v in known_values if v}, key=len, reverse=True))


#: known values at least this long are replaced wherever they appear; shorter ones (a
#: three-letter name) only as whole words, so unrelated words keep their letters
MIN_SUBSTRING_VALUE = 4


def scrub_sorted(text: str, kinds: Iterable[str], known_longest_first: Iterable[str]) -> str:
    """`scrub_text` with the known values already de-duplicated and sorted longest first."""
    for value in known_longest_first:
        if value in text:
            if len(value) >= MIN_SUBSTRING_VALUE:
                text = text.replace(value, "[redacted]")
            else:
                text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", "[redacted]", text)
    # every pattern needs a digit or an '@'; most strings (enums, words) have neither
    if "@" not in text and not _ANY_DIGIT.search(text):
        return text
    # UUIDs (run ids, request ids) are no one's data, but an all-digit last group looks like an
    # account number: set them aside while the patterns run
    uuids: list[str] = []

    def hold(m: re.Match[str]) -> str:
        uuids.append(m.group(0))
        return f"\x00{len(uuids) - 1}\x00"

    text = _UUID.sub(hold, text)
    for kind in _ORDER:
        if kind in kinds:
            text = _SUBS[kind](text)
    if uuids:
        text = _HELD.sub(lambda m: uuids[int(m.group(1))], text)
    return text
