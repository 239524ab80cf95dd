"""One shape for a Salesforce record, whichever API read it.

REST (`query`/`queryAll`) answers JSON: an `attributes` envelope, JSON booleans and numbers,
datetimes like `2026-10-01T12:00:00.000+0000`. Bulk API 2.0 answers CSV: every value a string,
an empty cell for null, `true`/`false`, datetimes like `2026-10-01T12:00:00.000Z`.
`normalize_record()` turns both into the landing shape of docs/INTERFACES.md section 3, driven by
the field types from `describe`, so the same record read either way hashes the same:

| describe type | normalized value |
|---|---|
| boolean | `True` / `False` |
| currency, double, percent | canonical decimal string padded to the scale (`"1234.50"`) |
| int | `int` |
| datetime | `YYYY-MM-DDTHH:MM:SS.000Z` in UTC |
| date | `YYYY-MM-DD` |
| time | `HH:MM:SS.000Z` |
| everything else (id, string, picklist, reference, email, ...) | the string, `""` -> `None` |

Fields the describe does not know are kept as strings (a custom field added between the describe
and the query must not be lost). A value that does not parse as its type raises `RecordInvalid`
with the field name, so the caller quarantines that one record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from extractors.salesforce.errors import RecordInvalid

DECIMAL_TYPES = frozenset({"currency", "double", "percent"})
_TYPED = DECIMAL_TYPES | {"boolean", "int", "datetime", "date", "time"}
_TEXT_LIKE = frozenset(
    {"id", "string", "textarea", "picklist", "multipicklist", "email", "phone", "url",
     "reference", "combobox", "encryptedstring"}
)  # fmt: skip
#: Types SOQL cannot select in Bulk queries (compound) or that are too big to land as text.
UNSELECTABLE_TYPES = frozenset({"address", "location", "base64", "complexvalue", "json"})

_DT = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?" r"(Z|[+-]\d{2}:?\d{2})?$"
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# the two shapes Salesforce actually sends (REST `+0000`, Bulk `Z`): no parsing needed
_UTC_MS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(?:\+0000|Z)")
_TIME = re.compile(r"^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z?$")


@dataclass(frozen=True)
class FieldSpec:
    """What `normalize_record()` needs to know about one field, from `describe`."""

    name: str
    type: str
    scale: int = 0


def field_specs(describe: Mapping[str, Any]) -> dict[str, FieldSpec]:
    """Field specs by API name from an sObject `describe` response.

    Args:
        describe: the JSON of `GET /sobjects/<Object>/describe`.

    Returns:
        `{name: FieldSpec}` in describe order.
    """
    return {
        f["name"]: FieldSpec(f["name"], str(f.get("type", "string")), int(f.get("scale") or 0))
        for f in describe.get("fields", [])
    }


def selectable_fields(specs: Mapping[str, FieldSpec]) -> list[str]:
    """The fields an extract selects: all of them but compound and binary ones."""
    return [name for name, spec in specs.items() if spec.type not in UNSELECTABLE_TYPES]


def format_datetime(value: datetime) -> str:
    """A datetime as the landing writes it: `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_datetime(text: str) -> datetime:
    """Parse Salesforce's datetime forms (`...000+0000`, `...000Z`, `...+00:00`) to aware UTC.

    Raises:
        ValueError: when the text is not one of those forms.
    """
    m = _DT.match(text.strip())
    if not m:
        raise ValueError("not a Salesforce datetime")
    y, mo, d, h, mi, s, frac, tz = m.groups()
    micro = int((frac or "0").ljust(6, "0")[:6])
    value = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro, tzinfo=UTC)
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 60 + int(digits[2:]))
        value = value - timedelta(minutes=offset)
    return value


def normalize_datetime(text: str) -> str:
    """Any Salesforce datetime text as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).

    Raises:
        ValueError: when the text is not a Salesforce datetime.
    """
    if _UTC_MS.fullmatch(text):
        return text[:23] + "Z"
    return format_datetime(parse_datetime(text))


def _decimal_string(value: Any, scale: int) -> str:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, float):
        # repr() is the shortest string that round-trips; never format the binary value
        value = repr(value)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError("not a number") from exc
    if not number.is_finite():
        raise ValueError("not a finite number")
    # canonical text of the value: trailing zeros dropped, then padded to the field's scale, so
    # 1234.5 (JSON), "1234.50" and "1234.500" all land as "1234.50" and hash the same; digits
    # beyond the scale are kept, never rounded
    number = number.normalize()
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent > -scale:
        number = number.quantize(Decimal(1).scaleb(-scale))
    return format(number, "f")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise ValueError("not a boolean")


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("a boolean is not an integer")
    if isinstance(value, int):
        return value
    number = Decimal(str(value).strip())
    if number != number.to_integral_value():
        raise ValueError("not an integer")
    return int(number)


def _time(value: Any) -> str:
    m = _TIME.match(str(value).strip())
    if not m:
        raise ValueError("not a time")
    h, mi, s, frac = m.groups()
    return f"{h}:{mi}:{s}.{(frac or '0').ljust(3, '0')[:3]}Z"


def normalize_value(value: Any, spec: FieldSpec | None) -> Any:
    """One field's value in the landing shape (see the module docstring).

    Raises:
        ValueError: the value does not parse as the field's type.
    """
    if value is None or value == "":
        # Bulk CSV writes null as an empty cell; REST never sends "" for a text field
        return None
    kind = spec.type if spec else "string"
    if kind in _TEXT_LIKE or kind not in _TYPED:
        if type(value) is str:
            return value
        if isinstance(value, dict | list):
            # a relationship or compound value: not selected by the extract, kept verbatim
            return value
        return str(value)
    if kind in DECIMAL_TYPES:
        return _decimal_string(value, spec.scale if spec else 0)
    if kind == "boolean":
        return _boolean(value)
    if kind == "datetime":
        return normalize_datetime(str(value))
    if kind == "int":
        return _integer(value)
    if kind == "date":
        text = str(value).strip()
        if not _DATE.match(text):
            raise ValueError("not a date")
        return text
    return _time(value)


def normalize_record(record: Mapping[str, Any], specs: Mapping[str, FieldSpec]) -> dict[str, Any]:
    """A REST JSON record or a Bulk CSV row in the landing shape.

    Args:
        record: one record, either REST's dict (with `attributes`) or a `csv.DictReader` row.
        specs: the object's field specs from `field_specs(describe)`.

    Returns:
        `{field API name: value}` without `attributes`, keys in the record's order.

    Raises:
        RecordInvalid: a value does not parse as its field's type, or the record has no `Id`.
    """
    out: dict[str, Any] = {}
    for name, value in record.items():
        if name == "attributes":
            continue
        try:
            out[name] = normalize_value(value, specs.get(name))
        except (ValueError, TypeError, InvalidOperation) as exc:
            kind = specs[name].type if name in specs else "unknown"
            raise RecordInvalid(f"field {name} ({kind}): {exc}") from exc
    if not out.get("Id"):
        raise RecordInvalid("record has no Id")
    return out
