"""Record writes with Salesforce's validation, shared by REST, sObject Collections and Bulk.

A batch is checked row by row against the org's schema (unknown field `INVALID_FIELD`, read-only
field `INVALID_FIELD_FOR_INSERT_UPDATE`, wrong type, `STRING_TOO_LONG`, `REQUIRED_FIELD_MISSING`,
`DUPLICATE_VALUE` on unique fields, duplicate external ids, bad references), plus the injected
`UNABLE_TO_LOCK_ROW` / `ingest_row_invalid` faults, then the good rows are written in one
transaction (none when `all_or_none`). Every write stamps `SystemModstamp`, `LastModifiedDate`
and `LastModifiedById` (the authenticated user) and is journaled with the request id.
Values arrive typed (REST JSON) or as text (Bulk CSV: empty = leave unchanged, `#N/A` = null).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sandbox.salesforce.org import NUMBER_TYPES, ORG, SObjectDef, normalize_id
from sandbox.salesforce.query_plan import sf_datetime
from sandbox.salesforce.store import Store
from sandbox.world.salesforce_schema import Field

UNCHANGED: Any = object()
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_STRINGISH = frozenset({"string", "textarea", "picklist", "email", "phone", "url"})
_CLOSED_STAGES = ("Closed Won", "Closed Lost")


@dataclass
class RowError:
    """One error of one row, as Salesforce reports it."""

    code: str
    message: str
    fields: list[str] = field(default_factory=list)

    def rest(self) -> dict[str, Any]:
        """As an item of a REST error list."""
        return {"message": self.message, "errorCode": self.code, "fields": self.fields}

    def collection(self) -> dict[str, Any]:
        """As an item of an sObject Collections result's `errors`."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}

    def bulk(self) -> str:
        """As a Bulk ingest `sf__Error` value."""
        return f"{self.code}:{self.message}:{','.join(self.fields)} --"


class RowFailure(Exception):
    """Raised while checking a row; carries the row's error."""

    def __init__(self, error: RowError, record_id: str | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.record_id = record_id  # the existing record the row named, if any


@dataclass
class Row:
    """One requested write: operation, target and raw values by the names the client sent."""

    operation: str  # insert / update / upsert / delete
    values: dict[str, Any]
    record_id: str | None = None  # update / delete
    external_field: str | None = None  # upsert
    external_value: Any = None
    current: dict[str, Any] | None = None  # the live record an upsert matched (saves a read)


@dataclass
class RowResult:
    """The outcome of one row: id, created, errors, and the bodies written."""

    id: str | None
    created: bool = False
    errors: list[RowError] = field(default_factory=list)
    body: dict[str, Any] | None = None
    before: dict[str, Any] | None = None
    multiple: list[str] = field(default_factory=list)  # upsert matched several ids

    @property
    def success(self) -> bool:
        """True when the row has no error."""
        return not self.errors


def _label(fld: Field) -> str:
    name = fld.name.removesuffix("__c").replace("_", " ")
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)


def coerce(fld: Field, value: Any, *, text: bool) -> Any:
    """One field value, validated and in the stored JSON form.

    Args:
        fld: the field.
        value: the client's value (JSON-typed, or CSV text when `text`).
        text: True for Bulk CSV input.

    Raises:
        RowFailure: the row's error.
    """
    if text:
        if value == "":
            return UNCHANGED
        if value == "#N/A":
            return None
    if value is None:
        return None
    ftype = fld.type

    def wrong() -> RowFailure:
        if text:
            return RowFailure(
                RowError(
                    "INVALID_TYPE_ON_FIELD_IN_RECORD",
                    f"{_label(fld)}: value not of required type: {value}",
                    [fld.name],
                )
            )
        return RowFailure(
            RowError(
                "JSON_PARSER_ERROR",
                f"Cannot deserialize instance of {ftype} from {type(value).__name__} value "
                f"{value} or request may be missing a required field",
            )
        )

    if ftype in _STRINGISH:
        if not isinstance(value, str):
            raise wrong()
        if fld.length and len(value) > fld.length:
            shown = value if len(value) <= 20 else value[:20] + "..."
            raise RowFailure(
                RowError(
                    "STRING_TOO_LONG",
                    f"{_label(fld)}: data value too large: {shown} (max length={fld.length})",
                    [fld.name],
                )
            )
        if ftype == "email" and value and not _EMAIL.match(value):
            raise RowFailure(
                RowError(
                    "INVALID_EMAIL_ADDRESS",
                    f"{_label(fld)}: invalid email address: {value}",
                    [fld.name],
                )
            )
        return value
    if ftype in ("id", "reference"):
        if not isinstance(value, str):
            raise wrong()
        rid = normalize_id(value)
        if rid is None:
            raise RowFailure(
                RowError(
                    "MALFORMED_ID",
                    f"{_label(fld)}: id value of incorrect type: {value}",
                    [fld.name],
                )
            )
        return rid
    if ftype in NUMBER_TYPES:
        # Salesforce's JSON reader also takes numbers written as strings ("12.50").
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise wrong()
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise wrong() from None
        if not number.is_finite():
            raise wrong()
        if ftype == "int":
            if number != number.to_integral_value():
                raise wrong()
            return int(number)
        if fld.scale:
            number = number.quantize(Decimal(1).scaleb(-fld.scale), rounding=ROUND_HALF_UP)
        if fld.precision and len(str(abs(int(number)))) > fld.precision - fld.scale:
            raise RowFailure(
                RowError(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"{_label(fld)}: value outside of valid range on numeric field: {value}",
                    [fld.name],
                )
            )
        as_float = float(number)
        if Decimal(repr(as_float)) != number:
            # JSON bodies hold currency as JSON numbers; refuse what a double cannot hold.
            raise RowFailure(
                RowError(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"{_label(fld)}: more significant digits than this sandbox stores: {value}",
                    [fld.name],
                )
            )
        return int(number) if number == number.to_integral_value() and not fld.scale else as_float
    if ftype == "boolean":
        if text:
            low = str(value).lower()
            if low in ("true", "1"):
                return True
            if low in ("false", "0"):
                return False
            raise wrong()
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"  # lenient like Salesforce's JSON reader
        if not isinstance(value, bool):
            raise wrong()
        return value
    if ftype == "date":
        if not isinstance(value, str):
            raise wrong()
        try:
            if len(value) != 10:
                raise ValueError(value)
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise wrong() from None
    if ftype == "datetime":
        if not isinstance(value, str):
            raise wrong()
        try:
            raw = value.replace("Z", "+00:00")
            if re.search(r"[+-]\d{4}$", raw):
                raw = raw[:-2] + ":" + raw[-2:]
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            raise wrong() from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return sf_datetime(parsed)
    raise wrong()


class Writer:
    """Validates and applies batches of rows for one authenticated user and request."""

    def __init__(
        self,
        store: Store,
        *,
        user_id: str,
        request_id: str,
        row_fault: Callable[[str], RowError | None] | None = None,
    ) -> None:
        self.store = store
        self.user_id = user_id
        self.request_id = request_id
        self.row_fault = row_fault
        self._case_number: int | None = None

    def run(
        self, obj: SObjectDef, rows: list[Row], *, text: bool, all_or_none: bool = False
    ) -> list[RowResult]:
        """Validate every row, then write the good ones (or none) in one transaction."""
        return self.run_many([(obj, r) for r in rows], text=text, all_or_none=all_or_none)

    def run_many(
        self, items: list[tuple[SObjectDef, Row]], *, text: bool, all_or_none: bool = False
    ) -> list[RowResult]:
        """`run` over rows of possibly different objects (sObject Collections)."""
        with self.store.transaction() as conn:
            self._case_number = None
            claimed: dict[tuple[str, str], int] = {}
            dup: dict[int, RowError] = {}
            by_obj: dict[str, list[int]] = {}
            for index, (obj, _row) in enumerate(items):
                by_obj.setdefault(obj.name, []).append(index)
            for indexes in by_obj.values():
                found = self._duplicate_external_ids([items[i][1] for i in indexes])
                dup.update({indexes[k]: err for k, err in found.items()})
            results: list[RowResult] = []
            for index, (obj, row) in enumerate(items):
                try:
                    if index in dup:
                        raise RowFailure(dup[index])
                    results.append(self._prepare(obj, row, text, claimed, index))
                except RowFailure as failure:
                    rid = failure.record_id or row.record_id
                    results.append(RowResult(id=rid, errors=[failure.error]))
            if all_or_none and any(not r.success for r in results):
                rolled = RowError(
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "Record rolled back because not all records were valid and the request "
                    "was using AllOrNone header",
                )
                return [r if not r.success else RowResult(id=None, errors=[rolled])
                        for r in results]  # fmt: skip
            clock = self.store.now()
            for (obj, _row), result in zip(items, results, strict=True):
                if not result.success or result.body is None:
                    continue
                op = (
                    "delete"
                    if result.body.get("IsDeleted") and result.before is not None
                    else ("insert" if result.created else "update")
                )
                result.body["SystemModstamp"] = self.store.next_stamp(clock)
                if op != "delete":
                    result.body["LastModifiedDate"] = result.body["SystemModstamp"]
                    result.body["LastModifiedById"] = self.user_id
                if result.created:
                    result.body["CreatedDate"] = result.body["SystemModstamp"]
                Store.put(
                    conn,
                    obj,
                    result.body,
                    result.before,
                    operation=op,
                    user_id=self.user_id,
                    request_id=self.request_id,
                )
            return results

    @staticmethod
    def _duplicate_external_ids(rows: list[Row]) -> dict[int, RowError]:
        seen: dict[str, list[int]] = {}
        for index, row in enumerate(rows):
            if row.operation == "upsert" and row.external_value not in (None, ""):
                seen.setdefault(str(row.external_value).lower(), []).append(index)
            elif row.operation in ("update", "delete") and row.record_id:
                seen.setdefault("id:" + row.record_id, []).append(index)
        out: dict[int, RowError] = {}
        for key, indexes in seen.items():
            if len(indexes) < 2:
                continue
            for index in indexes:
                row = rows[index]
                if key.startswith("id:"):
                    if index != indexes[0]:
                        out[index] = RowError(
                            "DUPLICATE_VALUE", f"Duplicate id in list: {row.record_id}", ["Id"]
                        )
                else:
                    out[index] = RowError(
                        "DUPLICATE_EXTERNAL_ID",
                        f"Duplicate external id specified: {row.external_value}",
                        [row.external_field or ""],
                    )
        return out

    def _prepare(
        self,
        obj: SObjectDef,
        row: Row,
        text: bool,
        claimed: dict[tuple[str, str], int],
        index: int,
    ) -> RowResult:
        before: dict[str, Any] | None = None
        created = False
        if row.operation == "upsert":
            assert row.external_field is not None
            ext = obj.field(row.external_field)
            if ext is None or not (ext.external_id or ext.name == "Id"):
                raise RowFailure(
                    RowError(
                        "NOT_FOUND",
                        "Provided external ID field does not exist or is not accessible: "
                        f"{row.external_field}",
                    )
                )
            value = row.external_value
            if value in (None, ""):
                raise RowFailure(
                    RowError("MISSING_ARGUMENT", f"{ext.name} not specified", [ext.name])
                )
            if ext.name == "Id":
                row = Row("update", row.values, record_id=str(value))
            else:
                matches = self.store.find_by_field(obj, ext.name, coerce(ext, value, text=text))
                if len(matches) > 1:
                    ids = [m[0] for m in matches]
                    result = RowResult(
                        id=None,
                        errors=[
                            RowError(
                                "DUPLICATE_EXTERNAL_ID",
                                f"{ext.name}: more than one record found for external id "
                                f"field: {ids}",
                                [ext.name],
                            )
                        ],
                    )
                    result.multiple = ids
                    return result
                values = dict(row.values)
                if matches:  # the key matched (ignoring case): the stored value stays as it is
                    row = Row("update", values, record_id=matches[0][0], current=matches[0][1])
                else:
                    if not any(k.lower() == ext.name.lower() for k in values):
                        values[ext.name] = value
                    row = Row("insert", values)
        if row.operation in ("update", "delete"):
            if not row.record_id:
                raise RowFailure(
                    RowError(
                        "MISSING_ARGUMENT", f"Id not specified in an {row.operation} call", ["Id"]
                    )
                )
            rid = normalize_id(row.record_id)
            if rid is None:
                raise RowFailure(RowError("MALFORMED_ID", f"malformed id {row.record_id}", ["Id"]))
            found = (obj.name, row.current, False) if row.current else self.store.get(rid)
            if found is None or found[0] != obj.name:
                raise RowFailure(
                    RowError(
                        "INVALID_CROSS_REFERENCE_KEY",
                        "invalid cross reference id",
                        ["Id"] if row.operation == "update" else [],
                    )
                )
            if found[2]:
                raise RowFailure(RowError("ENTITY_IS_DELETED", "entity is deleted"))
            before = found[1]
        else:
            created = True
        try:
            return self._build(obj, row, text, claimed, index, before, created)
        except RowFailure as failure:
            failure.record_id = before["Id"] if before else None
            raise

    def _build(
        self,
        obj: SObjectDef,
        row: Row,
        text: bool,
        claimed: dict[tuple[str, str], int],
        index: int,
        before: dict[str, Any] | None,
        created: bool,
    ) -> RowResult:
        self._fault(obj, before["Id"] if before else "")
        if row.operation == "delete":
            assert before is not None
            body = dict(before)
            body["IsDeleted"] = True
            return RowResult(id=body["Id"], body=body, before=before)
        changes = self._changes(obj, row, text, created)
        body = dict(before) if before is not None else self._new_body(obj)
        body.update(changes)
        self._derive(obj, body, created)
        self._check_required(obj, body, changes, created)
        self._check_unique(obj, body, changes, claimed, index, before)
        self._check_references(obj, changes)
        return RowResult(id=body["Id"], created=created, body=body, before=before)

    def _fault(self, obj: SObjectDef, record_id: str) -> None:
        if self.row_fault is None:
            return
        error = self.row_fault(record_id)
        if error is not None:
            raise RowFailure(error)

    def _changes(self, obj: SObjectDef, row: Row, text: bool, created: bool) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        readonly: list[str] = []
        for name, raw in row.values.items():
            if name == "attributes":
                continue
            fld = obj.field(name)
            if fld is None:
                raise RowFailure(
                    RowError(
                        "INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}"
                    )
                )
            if fld.name == "Id" and not created:
                continue  # the Id of an update row names the target
            if not (fld.createable if created else fld.updateable):
                if not (text and raw == ""):
                    readonly.append(fld.name)
                continue
            value = coerce(fld, raw, text=text)
            if value is UNCHANGED:
                continue
            changes[fld.name] = value
        if readonly:
            raise RowFailure(
                RowError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {', '.join(readonly)}. Please check the "
                    "security settings of this field and verify that it is read/write for your "
                    "profile or permission set.",
                    readonly,
                )
            )
        return changes

    def _new_body(self, obj: SObjectDef) -> dict[str, Any]:
        body: dict[str, Any] = {f.name: None for f in obj.fields}
        for fld in obj.fields:
            if fld.type == "boolean" and not fld.nillable:
                body[fld.name] = False
        body["Id"] = self.store.new_id(obj)
        body["IsDeleted"] = False
        body["CreatedById"] = self.user_id
        if "OwnerId" in body:
            body["OwnerId"] = self.user_id
        if "CurrencyIsoCode" in body:
            body["CurrencyIsoCode"] = "USD"
        if obj.name == "Case":
            if self._case_number is None:  # auto-number: one past the highest, per batch
                row = (
                    self.store.conn()
                    .execute(
                        "SELECT max(CAST(body ->> '$.CaseNumber' AS INTEGER)) FROM records "
                        "WHERE sobject = 'Case'"
                    )
                    .fetchone()
                )
                self._case_number = row[0] or 0
            self._case_number += 1
            body["CaseNumber"] = f"{self._case_number:08d}"
        return body

    @staticmethod
    def _derive(obj: SObjectDef, body: dict[str, Any], created: bool) -> None:
        if obj.name == "User":
            body["Name"] = " ".join(p for p in (body.get("FirstName"), body.get("LastName")) if p)
        elif obj.name == "Opportunity":
            body["IsClosed"] = body.get("StageName") in _CLOSED_STAGES
            body["IsWon"] = body.get("StageName") == "Closed Won"
        elif obj.name == "Case":
            body["IsClosed"] = body.get("Status") == "Closed"

    @staticmethod
    def _check_required(
        obj: SObjectDef, body: dict[str, Any], changes: dict[str, Any], created: bool
    ) -> None:
        missing = [
            f.name
            for f in obj.fields
            if not f.nillable
            and f.createable
            and body.get(f.name) is None
            and (created or f.name in changes)
        ]
        if missing:
            raise RowFailure(
                RowError(
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{', '.join(missing)}]",
                    missing,
                )
            )

    def _check_unique(
        self,
        obj: SObjectDef,
        body: dict[str, Any],
        changes: dict[str, Any],
        claimed: dict[tuple[str, str], int],
        index: int,
        before: dict[str, Any] | None = None,
    ) -> None:
        for fld in obj.fields:
            if not fld.unique or changes.get(fld.name) is None:
                continue
            value = changes[fld.name]
            key = (fld.name, str(value).lower())
            holder = None
            kept = before is not None and str(before.get(fld.name) or "").lower() == key[1]
            if not kept:  # a record keeping its own value cannot collide with another
                others = [
                    rid for rid, _b in self.store.find_by_field(obj, fld.name, value)
                    if rid != body["Id"]
                ]  # fmt: skip
                holder = others[0] if others else None
            if holder is None and claimed.get(key, index) != index:
                holder = f"row {claimed[key]} of this request"
            if holder is not None:
                raise RowFailure(
                    RowError(
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {fld.name} duplicates value on record with "
                        f"id: {holder}",
                        [fld.name],
                    )
                )
            claimed[key] = index

    def _check_references(self, obj: SObjectDef, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            fld = obj.field(name)
            if fld is None or fld.type != "reference" or value is None:
                continue
            found = self.store.get(value)
            target = ORG.get(found[0]) if found else None
            if found is None or found[2] or target is None or target.name not in fld.reference_to:
                raise RowFailure(
                    RowError(
                        "INVALID_CROSS_REFERENCE_KEY",
                        f"{_label(fld)}: id value of incorrect type: {value}",
                        [fld.name],
                    )
                )
