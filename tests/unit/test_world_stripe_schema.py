"""A sample of every billing object type validates against Stripe's OpenAPI schema.

The spec (API version 2023-08-16) is OpenAPI 3.0: `nullable: true` is rewritten to JSON
Schema (`"null"` added to `type`, `{"type": "null"}` added to `anyOf`, and to `enum`), and
`$ref`s resolve through a `referencing` registry over the whole spec.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from sandbox.world import SCALES, generate

pytestmark = pytest.mark.unit

SPEC = Path("/work/shared/reference/stripe/spec3.json")
if not SPEC.exists():  # the repository's copy, when the shared reference is not mounted
    SPEC = Path(__file__).resolve().parents[2] / "docs" / "reference" / "stripe" / "spec3.json"
URI = "urn:stripe:spec3"


def _nullable(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        if "anyOf" in out:
            out["anyOf"] = [*out["anyOf"], {"type": "null"}]
        elif "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        elif "$ref" in out:
            out = {"anyOf": [{"$ref": out.pop("$ref")}, {"type": "null"}], **out}
    return out


@pytest.fixture(scope="module")
def validators() -> dict[str, Draft202012Validator]:
    spec = _nullable(json.loads(SPEC.read_text()))
    # `$ref`s in the spec are document-relative ("#/components/..."); anchor them to the URI
    text = json.dumps(spec).replace('"$ref": "#/', f'"$ref": "{URI}#/')
    resource = Resource(contents=json.loads(text), specification=DRAFT202012)
    registry = Registry().with_resource(URI, resource)
    return {
        name: Draft202012Validator({"$ref": f"{URI}#/components/schemas/{name}"}, registry=registry)
        for name in spec["components"]["schemas"]
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("world")
    generate(d, seed=11, scale=SCALES["XS"])
    return d


def test_every_billing_object_type_validates_against_the_openapi_schema(
    world: Path, validators: dict[str, Draft202012Validator]
) -> None:
    con = sqlite3.connect(world / "billing.sqlite")
    types = [r[0] for r in con.execute("SELECT DISTINCT object FROM objects ORDER BY 1")]
    assert len(types) >= 19
    errors = []
    for obj in types:
        rows = con.execute(
            "SELECT body FROM objects WHERE object=? ORDER BY id LIMIT 40", (obj,)
        ).fetchall()
        for (body,) in rows:
            for err in validators[obj].iter_errors(json.loads(body)):
                errors.append(f"{obj}: {list(err.absolute_path)}: {err.message[:200]}")
    assert errors == []


def test_event_payloads_validate_against_their_object_schema(
    world: Path, validators: dict[str, Draft202012Validator]
) -> None:
    con = sqlite3.connect(world / "billing.sqlite")
    rows = con.execute("SELECT body FROM objects WHERE object='event' ORDER BY id LIMIT 200")
    seen = set()
    for (text,) in rows:
        obj = json.loads(text)["data"]["object"]
        seen.add(obj["object"])
        errs = [e.message[:200] for e in validators[obj["object"]].iter_errors(obj)]
        assert errs == [], obj["object"]
    assert {"invoice", "charge"} <= seen
