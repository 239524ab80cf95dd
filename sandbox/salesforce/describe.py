"""Describe payloads (global, per object, basic info) and the API version list, in the shapes
of Salesforce's REST API (compare `restforce-fixtures/sobject/*describe*`)."""

from __future__ import annotations

import re
from typing import Any

from sandbox.salesforce.org import ORG, SObjectDef
from sandbox.world.salesforce_schema import Field

MIN_VERSION, MAX_VERSION = 20, 66
_SOAP = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "currency": "xsd:double",
    "double": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "boolean": "xsd:boolean",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
_LABELS = {"Id": "Record ID", "OwnerId": "Owner ID", "IsDeleted": "Deleted"}


def versions() -> list[dict[str, str]]:
    """`GET /services/data/`: every version served, oldest first (v20.0 is Winter '11)."""
    out = []
    for v in range(MIN_VERSION, MAX_VERSION + 1):
        season = ("Winter", "Spring", "Summer")[(v - 20) % 3]
        year = 11 + (v - 20) // 3
        out.append({"label": f"{season} '{year:02d}", "url": f"/services/data/v{v}.0",
                    "version": f"{v}.0"})  # fmt: skip
    return out


def supported_version(version: str) -> bool:
    """True for the API versions served (`62.0`)."""
    m = re.fullmatch(r"(\d+)\.0", version)
    return m is not None and MIN_VERSION <= int(m.group(1)) <= MAX_VERSION


def _label(name: str) -> str:
    if name in _LABELS:
        return _LABELS[name]
    base = name.removesuffix("__c").replace("_", " ")
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", base)


def _plural(name: str) -> str:
    return name[:-1] + "ies" if name.endswith("y") else name + "s"


def field_describe(obj: SObjectDef, f: Field) -> dict[str, Any]:
    """One entry of `fields` in an object's describe."""
    text_like = f.type in ("string", "textarea", "picklist", "email", "phone", "url", "id",
                           "reference")  # fmt: skip
    return {
        "aggregatable": f.type != "textarea",
        "autoNumber": obj.name == "Case" and f.name == "CaseNumber",
        "byteLength": f.length * 3
        if text_like and f.type not in ("id", "reference")
        else (18 if f.type in ("id", "reference") else 0),
        "calculated": False,
        "calculatedFormula": None,
        "caseSensitive": False,
        "controllerName": None,
        "createable": f.createable,
        "custom": f.custom,
        "defaultValue": None,
        "defaultValueFormula": None,
        "defaultedOnCreate": f.type == "boolean" or f.name in ("Id", "OwnerId", "CreatedDate"),
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": 9 if f.type == "int" else 0,
        "externalId": f.external_id,
        "filterable": f.type != "textarea" or f.length <= 255,
        "groupable": f.type not in ("textarea", "currency", "double", "percent", "datetime"),
        "htmlFormatted": False,
        "idLookup": f.name == "Id" or f.external_id,
        "inlineHelpText": None,
        "label": _label(f.name),
        "length": f.length if text_like else 0,
        "name": f.name,
        "nameField": f.name == "Name",
        "namePointing": f.name == "OwnerId",
        "nillable": f.nillable,
        "picklistValues": [
            {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
            for v in f.picklist
        ],
        "precision": f.precision,
        "referenceTo": list(f.reference_to),
        "relationshipName": f.relationship_name,
        "relationshipOrder": None,
        "restrictedPicklist": False,
        "scale": f.scale,
        "soapType": _SOAP.get(f.type, "xsd:string"),
        "sortable": f.type != "textarea" or f.length <= 255,
        "type": f.type,
        "unique": f.unique,
        "updateable": f.updateable,
        "writeRequiresMasterRead": False,
    }


def _urls(obj: SObjectDef, version: str) -> dict[str, str]:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def basic(obj: SObjectDef, version: str) -> dict[str, Any]:
    """The object summary used by global describe and `GET /sobjects/{name}`."""
    return {
        "activateable": False,
        "createable": True,
        "custom": False,
        "customSetting": False,
        "deletable": True,
        "deprecatedAndHidden": False,
        "feedEnabled": obj.name != "User",
        "keyPrefix": obj.key_prefix,
        "label": obj.name,
        "labelPlural": _plural(obj.name),
        "layoutable": True,
        "mergeable": obj.name in ("Account", "Contact"),
        "name": obj.name,
        "queryable": True,
        "replicateable": True,
        "retrieveable": True,
        "searchable": True,
        "triggerable": True,
        "undeletable": True,
        "updateable": True,
        "urls": _urls(obj, version),
    }


def global_describe(version: str) -> dict[str, Any]:
    """`GET /sobjects`: every object of the org."""
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [basic(o, version) for o in ORG.objects.values()],
    }


def describe(obj: SObjectDef, version: str) -> dict[str, Any]:
    """`GET /sobjects/{name}/describe`."""
    out = basic(obj, version)
    out["fields"] = [field_describe(obj, f) for f in obj.fields]
    out["childRelationships"] = [
        {
            "cascadeDelete": False,
            "childSObject": child.name,
            "deprecatedAndHidden": False,
            "field": f.name,
            "relationshipName": _plural(child.name) if f.name == "AccountId" else None,
        }
        for child in ORG.objects.values()
        for f in child.fields
        if obj.name in f.reference_to
    ]
    out["recordTypeInfos"] = []
    return out
