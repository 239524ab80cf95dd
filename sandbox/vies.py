"""The VIES stand-in: the EU Commission's VAT number check, REST flavour.

Real service: `POST https://ec.europa.eu/taxation_customs/vies/rest-api/check-vat-number`.
Here the same paths hang off `Q2C_VIES_URL` (the ERP server's `/vies`):

- `POST {Q2C_VIES_URL}/check-vat-number` with `{"countryCode": "DE", "vatNumber": "123456789"}`
- `GET {Q2C_VIES_URL}/ms/{countryCode}/vat/{vatNumber}`

Both answer `{"countryCode", "vatNumber", "requestDate", "valid", "name", "address"}`.
`valid` is true iff the number passes `stdnum.eu.vat` (checksum and format for the country)
and is not one of the world's injected-invalid numbers (the `invalid_eu_vat` discrepancies in
`truth.sqlite`: registered-looking numbers that VIES does not know). `name` and `address` are
`"---"`, as VIES answers for member states that do not share them. `requestDate` is the world's
clock (`meta.now` of `erp.sqlite`), `YYYY-MM-DDTHH:MM:SS.000Z`.

Errors use VIES's shape `{"actionSucceed": false, "errorWrappers": [{"error", "message"}]}`:
`INVALID_INPUT` (HTTP 400) for an unknown country code or an empty number, and
`MS_UNAVAILABLE` (HTTP 503, retry later) when the `vies_unavailable` fault fires (see
`sandbox.erp.faults`). The invalid set is read live on every call, so `advance` shows up.
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from stdnum.eu import vat as eu_vat

from sandbox.erp.faults import FaultState

# VIES member-state codes: the EU 27 with Greece as EL, plus XI (Northern Ireland).
MEMBER_STATES = frozenset(
    "AT BE BG CY CZ DE DK EE EL ES FI FR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK XI".split()
)
_CLEAN = re.compile(r"[\s.\-/]")


def normalize(number: str) -> str:
    """Upper-case a VAT number and strip the separators people type."""
    return _CLEAN.sub("", number).upper()


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def injected_invalid(world_dir: Path) -> set[str]:
    """The world's injected-invalid VAT numbers, normalised, with their country prefix.

    They are whatever strings the `invalid_eu_vat` discrepancies carry in `object_ids` or
    `detail` that look like an EU VAT number (two letters then digits/letters).
    """
    truth = world_dir / "truth.sqlite"
    if not truth.exists():
        return set()
    conn = sqlite3.connect(f"file:{truth}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT object_ids, detail FROM discrepancies WHERE kind = 'invalid_eu_vat'"
        ).fetchall()
    except sqlite3.OperationalError:
        return set()
    finally:
        conn.close()
    out: set[str] = set()
    for object_ids, detail in rows:
        texts = _strings(json.loads(object_ids)) + _strings(json.loads(detail))
        info = json.loads(detail)
        if isinstance(info, dict) and isinstance(info.get("vat_number"), str):
            # `{"vat_number": "123...", "country": "DE"}`: the number may lack its prefix.
            texts.append(str(info.get("country", "")) + normalize(info["vat_number"]))
        for text in texts:
            clean = normalize(text)
            if len(clean) >= 4 and clean[:2] in MEMBER_STATES | {"GR"}:
                out.add(clean.replace("GR", "EL", 1) if clean.startswith("GR") else clean)
    return out


def world_request_date(world_dir: Path) -> str:
    """The world's clock in VIES's `requestDate` form."""
    now = None
    erp = world_dir / "erp.sqlite"
    if erp.exists():
        conn = sqlite3.connect(f"file:{erp}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'now'").fetchone()
            now = int(float(row[0])) if row else None
        except sqlite3.OperationalError:
            now = None
        finally:
            conn.close()
    moment = datetime.fromtimestamp(now, UTC) if now is not None else datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def check(world_dir: Path, country_code: str, vat_number: str) -> dict[str, Any]:
    """The VIES answer for one number (no faults)."""
    cc = country_code.upper()
    number = normalize(vat_number)
    if number.startswith(cc):
        number = number[len(cc) :]
    full = cc + number
    valid = bool(eu_vat.is_valid(full)) and full not in injected_invalid(world_dir)
    return {
        "countryCode": cc,
        "vatNumber": number,
        "requestDate": world_request_date(world_dir),
        "valid": valid,
        "name": "---",
        "address": "---",
    }


def _vies_error(status: int, error: str, message: str) -> Response:
    body = {"actionSucceed": False, "errorWrappers": [{"error": error, "message": message}]}
    return Response(orjson.dumps(body), status, media_type="application/json")


def create_app(
    world_dir: Path, faults: dict | None = None, *, fault_state: FaultState | None = None
) -> Starlette:
    """Build the VIES stand-in over a world.

    Args:
        world_dir: the world directory.
        faults: initial faults when it runs on its own (names in `sandbox.erp.faults`).
        fault_state: the ERP app's fault state when mounted inside it (shared settings).

    Returns:
        The Starlette app.
    """
    world_dir = Path(world_dir)
    state = fault_state or FaultState(faults)

    async def answer(country_code: Any, vat_number: Any) -> Response:
        if state.roll("vies_unavailable"):
            response = _vies_error(
                503, "MS_UNAVAILABLE", "The member state service is unavailable; retry later."
            )
            response.headers["X-Sandbox-Fault"] = "vies_unavailable"
            return response
        if (
            not isinstance(country_code, str)
            or country_code.upper() not in MEMBER_STATES
            or not isinstance(vat_number, str)
            or not normalize(vat_number)
        ):
            return _vies_error(400, "INVALID_INPUT", "countryCode or vatNumber is not valid.")
        body = await run_in_threadpool(check, world_dir, country_code, vat_number)
        return Response(orjson.dumps(body), media_type="application/json")

    async def post_check(request: Request) -> Response:
        try:
            payload = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _vies_error(400, "INVALID_INPUT", "The body is not JSON.")
        if not isinstance(payload, dict):
            return _vies_error(400, "INVALID_INPUT", "The body must be a JSON object.")
        return await answer(payload.get("countryCode"), payload.get("vatNumber"))

    async def get_check(request: Request) -> Response:
        return await answer(request.path_params["cc"], request.path_params["number"])

    return Starlette(
        routes=[
            Route("/check-vat-number", post_check, methods=["POST"]),
            Route("/ms/{cc}/vat/{number}", get_check, methods=["GET"]),
        ]
    )
