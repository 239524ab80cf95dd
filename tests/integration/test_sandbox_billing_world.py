"""The billing stand-in over a generated world: page-through counts and Stripe's OpenAPI spec.

One S world is generated per module (`sandbox.world.generate`). The official `stripe` SDK
pages every list endpoint to the end and must meet `truth.counts`; sample pages, retrieves,
expansions, writes and errors of every endpoint validate against
`/work/shared/reference/stripe/spec3.json`, after rewriting the spec's OpenAPI 3.0
`nullable: true` into JSON Schema (`anyOf [..., {"type": "null"}]`, or `type: [t, "null"]`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import stripe
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from sandbox.billing import create_app
from sandbox.billing.resources import RESOURCES
from sandbox.billing.serve import serve_in_thread
from sandbox.world import advance, generate

pytestmark = pytest.mark.integration

KEY = "sk_test_world"
SPEC_PATH = Path("/work/shared/reference/stripe/spec3.json")
SPEC_URI = "urn:stripe:spec3"
LIST_PATHS = sorted(RESOURCES)
#: the spec's retrieve path of each list endpoint
SPEC_RETRIEVE = {
    "customers": "/v1/customers/{customer}",
    "products": "/v1/products/{id}",
    "prices": "/v1/prices/{price}",
    "coupons": "/v1/coupons/{coupon}",
    "tax_rates": "/v1/tax_rates/{tax_rate}",
    "subscriptions": "/v1/subscriptions/{subscription_exposed_id}",
    "subscription_items": "/v1/subscription_items/{item}",
    "invoices": "/v1/invoices/{invoice}",
    "invoiceitems": "/v1/invoiceitems/{invoiceitem}",
    "credit_notes": "/v1/credit_notes/{id}",
    "payment_intents": "/v1/payment_intents/{intent}",
    "charges": "/v1/charges/{charge}",
    "refunds": "/v1/refunds/{refund}",
    "disputes": "/v1/disputes/{dispute}",
    "balance_transactions": "/v1/balance_transactions/{id}",
    "payouts": "/v1/payouts/{payout}",
    "accounts": "/v1/accounts/{account}",
    "transfers": "/v1/transfers/{transfer}",
    "events": "/v1/events/{id}",
}


# --- the spec -----------------------------------------------------------------------------


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0 `nullable: true` as JSON Schema."""
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items()}
    if out.pop("nullable", False):
        if "anyOf" in out:
            out["anyOf"] = [*out["anyOf"], {"type": "null"}]
        elif "$ref" in out:
            out["anyOf"] = [{"$ref": out.pop("$ref")}, {"type": "null"}]
        elif "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
    return out


@pytest.fixture(scope="module")
def registry() -> Registry:
    spec = _nullable(json.loads(SPEC_PATH.read_text()))
    return Registry().with_resource(
        SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT202012)
    )


def _errors(
    registry: Registry, path: str, method: str, body: Any, status: str = "200"
) -> list[str]:
    pointer = "/".join(
        p.replace("~", "~0").replace("/", "~1")
        for p in ("paths", path, method, "responses", status, "content", "application/json")
    )
    schema = {"$ref": f"{SPEC_URI}#/{pointer}/schema"}
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in validator.iter_errors(body)
    ][:10]


def test_the_nullable_rewrite_accepts_null_only_where_the_spec_allows_it(
    registry: Registry,
) -> None:
    page = {"object": "list", "data": [], "has_more": False, "url": "/v1/customers"}
    customer = {"id": "cus_1", "object": "customer", "created": 1, "livemode": False}
    assert (
        _errors(registry, "/v1/customers", "get", {**page, "data": [{**customer, "email": None}]})
        == []
    )
    assert _errors(
        registry, "/v1/customers", "get", {**page, "data": [{**customer, "created": None}]}
    )
    assert _errors(registry, "/v1/customers", "get", {**page, "data": [{"id": "cus_1"}]})


# --- the world ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    world_dir = tmp_path_factory.mktemp("billing_world_s")
    generate(world_dir, seed=7, scale="S")
    return world_dir


@pytest.fixture(scope="module")
def counts(world: Path) -> dict[str, int]:
    con = sqlite3.connect(world / "truth.sqlite")
    try:
        return dict(con.execute("SELECT object, n FROM counts WHERE system = 'billing'"))
    finally:
        con.close()


@pytest.fixture(scope="module")
def base_url(world: Path) -> Iterator[str]:
    with serve_in_thread(create_app(world)) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url: str) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": base_url}, max_network_retries=0)


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {KEY}"}) as c:
        yield c


def _sql(world: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(world / "billing.sqlite")
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def _list_params(path: str) -> dict[str, Any]:
    return {"status": "all"} if path == "subscriptions" else {}


#: Above this many objects the SDK pages with `raw_request` (its request path, the one the
#: extractor uses) instead of building a StripeObject per object, which costs ~4 ms each.
OBJECTS_VIA_AUTO_PAGING = 1_500


@pytest.mark.parametrize("path", [p for p in LIST_PATHS if p != "subscription_items"])
def test_sdk_pages_every_list_to_the_worlds_count(
    client: stripe.StripeClient, counts: dict[str, int], path: str
) -> None:
    expected = counts[RESOURCES[path].object]
    params = {"limit": 100, **_list_params(path)}
    if expected <= OBJECTS_VIA_AUTO_PAGING:
        service = getattr(client.v1, "invoice_items" if path == "invoiceitems" else path)
        ids = [o.id for o in service.list(params).auto_paging_iter()]
    else:
        ids, more = [], True
        while more:
            cursor = {"starting_after": ids[-1]} if ids else {}
            page = client.raw_request("get", f"/v1/{path}", **params, **cursor).data
            ids.extend(o["id"] for o in page["data"])
            more = page["has_more"]
    assert len(ids) == len(set(ids))
    assert len(ids) == expected, path


def test_nested_lists_page_to_the_worlds_counts(
    http: httpx.Client, world: Path, counts: dict[str, int]
) -> None:
    """Subscription items per subscription, invoice lines per invoice (raw HTTP for speed)."""

    def page_through(url: str, params: dict[str, Any]) -> int:
        total, after = 0, None
        while True:
            page = http.get(
                url, params={**params, "limit": 100, **({"starting_after": after} if after else {})}
            ).json()
            total += len(page["data"])
            if not page["has_more"]:
                return total
            after = page["data"][-1]["id"]

    subs = [
        r[0]
        for r in _sql(world, "SELECT id FROM objects WHERE object = 'subscription' AND deleted = 0")
    ]
    items = sum(page_through("/v1/subscription_items", {"subscription": s}) for s in subs)
    assert items == counts["subscription_item"]
    invoices = [
        r[0] for r in _sql(world, "SELECT id FROM objects WHERE object = 'invoice' AND deleted = 0")
    ]
    lines = sum(page_through(f"/v1/invoices/{i}/lines", {}) for i in invoices)
    assert lines == counts["line_item"]


def test_sdk_pages_subscription_items_and_invoice_lines(
    client: stripe.StripeClient, world: Path
) -> None:
    sub, n_items = _sql(
        world,
        "SELECT parent, count(*) FROM objects WHERE object = 'subscription_item' AND deleted = 0 "
        "GROUP BY parent ORDER BY count(*) DESC LIMIT 1",
    )[0]
    got = list(
        client.v1.subscription_items.list({"subscription": sub, "limit": 1}).auto_paging_iter()
    )
    assert len(got) == n_items
    invoice, n_lines = _sql(
        world,
        "SELECT parent, count(*) FROM objects WHERE object = 'line_item' AND deleted = 0 "
        "GROUP BY parent ORDER BY count(*) DESC LIMIT 1",
    )[0]
    lines = list(client.v1.invoices.line_items.list(invoice, {"limit": 2}).auto_paging_iter())
    assert len(lines) == n_lines


def test_events_are_the_last_30_days_of_the_worlds_clock(
    client: stripe.StripeClient, world: Path, counts: dict[str, int]
) -> None:
    now = int(_sql(world, "SELECT value FROM meta WHERE key = 'now'")[0][0])
    events = list(client.v1.events.list({"limit": 100}).auto_paging_iter())
    assert len(events) == counts["event"]
    assert min(e.created for e in events) >= now - 30 * 86_400
    stored = _sql(world, "SELECT count(*) FROM objects WHERE object = 'event'")[0][0]
    assert stored > len(events)  # the world keeps 35 days; 30 are listed
    failed = list(
        client.v1.events.list({"delivery_success": False, "limit": 100}).auto_paging_iter()
    )
    expected_failed = _sql(
        world,
        "SELECT count(*) FROM objects WHERE object = 'event' AND delivered = 0 AND created >= ?",
        now - 30 * 86_400,
    )[0][0]
    assert len(failed) == expected_failed


def test_balance_transactions_by_payout_match_the_world(
    client: stripe.StripeClient, world: Path
) -> None:
    rows = _sql(
        world,
        "SELECT payout, count(*) FROM objects WHERE object = 'balance_transaction' "
        "AND payout IS NOT NULL GROUP BY payout ORDER BY count(*) DESC LIMIT 3",
    )
    assert rows
    for payout, n in rows:
        listed = list(
            client.v1.balance_transactions.list({"payout": payout, "limit": 100}).auto_paging_iter()
        )
        assert len(listed) == n


# --- spec validation -----------------------------------------------------------------------


@pytest.mark.parametrize("path", LIST_PATHS)
def test_sample_pages_and_retrieves_of_every_endpoint_validate_against_the_spec(
    http: httpx.Client, registry: Registry, world: Path, path: str
) -> None:
    params = _list_params(path)
    if path == "subscription_items":
        params = {
            "subscription": _sql(
                world, "SELECT parent FROM objects WHERE object = 'subscription_item' LIMIT 1"
            )[0][0]
        }
    first = http.get(f"/v1/{path}", params={**params, "limit": 100})
    assert first.status_code == 200
    page = first.json()
    assert page["data"], f"/v1/{path} is empty in the S world"
    assert _errors(registry, f"/v1/{path}", "get", page) == []
    if page["has_more"]:
        later = http.get(
            f"/v1/{path}", params={**params, "limit": 100, "starting_after": page["data"][-1]["id"]}
        ).json()
        assert _errors(registry, f"/v1/{path}", "get", later) == []
    spec_detail = SPEC_RETRIEVE[path]
    for obj in (page["data"][0], page["data"][-1]):
        one = http.get(f"/v1/{path}/{obj['id']}")
        assert one.status_code == 200
        assert one.json() == obj
        assert _errors(registry, spec_detail, "get", one.json()) == []


def test_invoice_lines_validate_against_the_spec(
    http: httpx.Client, registry: Registry, world: Path
) -> None:
    invoice = _sql(world, "SELECT parent FROM objects WHERE object = 'line_item' LIMIT 1")[0][0]
    page = http.get(f"/v1/invoices/{invoice}/lines", params={"limit": 100}).json()
    assert page["data"]
    assert _errors(registry, "/v1/invoices/{invoice}/lines", "get", page) == []


@pytest.mark.parametrize(
    "path",
    ["charges", "invoices", "subscriptions", "payment_intents", "invoiceitems", "credit_notes"],
)
def test_expanded_customers_validate_against_the_spec(
    http: httpx.Client, registry: Registry, path: str
) -> None:
    page = http.get(
        f"/v1/{path}", params={"limit": 20, "expand[]": "data.customer", **_list_params(path)}
    ).json()
    with_customer = [o for o in page["data"] if o.get("customer")]
    assert with_customer
    assert all(isinstance(o["customer"], dict) for o in with_customer)
    assert _errors(registry, f"/v1/{path}", "get", page) == []


def test_errors_validate_against_the_spec_error_envelope(
    http: httpx.Client, registry: Registry
) -> None:
    missing = http.get("/v1/charges/ch_nope")
    assert missing.status_code == 404
    assert _errors(registry, "/v1/charges/{charge}", "get", missing.json(), "default") == []
    bad = http.get("/v1/charges", params={"limit": 1000})
    assert bad.status_code == 400
    assert _errors(registry, "/v1/charges", "get", bad.json(), "default") == []


# --- writes on a copy of the world ----------------------------------------------------------


@pytest.fixture
def world_copy(world: Path, tmp_path: Path) -> Path:
    src = sqlite3.connect(world / "billing.sqlite")
    dst = sqlite3.connect(tmp_path / "billing.sqlite")
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return tmp_path


def test_writes_validate_against_the_spec_and_show_in_lists(
    world_copy: Path, registry: Registry
) -> None:
    charge_id, customer_id, amount = _sql(
        world_copy,
        "SELECT id, customer, json_extract(body, '$.amount') FROM objects WHERE object = 'charge' "
        "AND json_extract(body, '$.status') = 'succeeded' "
        "AND json_extract(body, '$.amount_refunded') = 0 "
        "AND json_extract(body, '$.disputed') = 0 AND customer IS NOT NULL LIMIT 1",
    )[0]
    currency = _sql(
        world_copy, "SELECT json_extract(body, '$.currency') FROM objects WHERE id = ?", charge_id
    )[0][0]
    with serve_in_thread(create_app(world_copy)) as url:
        client = stripe.StripeClient(KEY, base_addresses={"api": url}, max_network_retries=0)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}) as http:
            created = http.post(
                "/v1/customers", data={"email": "w@example.test", "metadata[k]": "v"}
            )
            assert _errors(registry, "/v1/customers", "post", created.json()) == []
            cid = created.json()["id"]
            updated = http.post(f"/v1/customers/{cid}", data={"name": "Renamed"})
            assert _errors(registry, "/v1/customers/{customer}", "post", updated.json()) == []
            item = http.post(
                "/v1/invoiceitems",
                data={"customer": customer_id, "amount": "1999", "currency": currency},
            )
            assert item.status_code == 200, item.text
            assert _errors(registry, "/v1/invoiceitems", "post", item.json()) == []
            refund = http.post(
                "/v1/refunds", data={"charge": charge_id, "amount": str(amount // 2)}
            )
            assert refund.status_code == 200, refund.text
            assert _errors(registry, "/v1/refunds", "post", refund.json()) == []
            charge = http.get(f"/v1/charges/{charge_id}").json()
            assert charge["amount_refunded"] == amount // 2
            assert _errors(registry, "/v1/charges/{charge}", "get", charge) == []
            events = http.get("/v1/events", params={"limit": 10}).json()
            assert _errors(registry, "/v1/events", "get", events) == []
            deleted = http.delete(f"/v1/customers/{cid}").json()
            assert _errors(registry, "/v1/customers/{customer}", "delete", deleted) == []
            assert (
                _errors(
                    registry,
                    "/v1/customers/{customer}",
                    "get",
                    http.get(f"/v1/customers/{cid}").json(),
                )
                == []
            )
        types = {e.type for e in client.v1.events.list({"limit": 10}).data}
        assert {
            "customer.created",
            "customer.updated",
            "customer.deleted",
            "invoiceitem.created",
            "refund.created",
            "charge.refunded",
        } <= types


# --- the world moves on under a running server ------------------------------------------------


def test_advance_shows_up_at_once_without_a_restart(world: Path, tmp_path: Path) -> None:
    """The stand-in reads the files live: after `advance`, lists meet the new truth.counts."""
    for name in ("billing", "salesforce", "erp", "truth"):
        src = sqlite3.connect(world / f"{name}.sqlite")
        dst = sqlite3.connect(tmp_path / f"{name}.sqlite")
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()

    def truth(obj: str) -> int:
        con = sqlite3.connect(tmp_path / "truth.sqlite")
        try:
            return con.execute(
                "SELECT n FROM counts WHERE system = 'billing' AND object = ?", (obj,)
            ).fetchone()[0]
        finally:
            con.close()

    def listed(http: httpx.Client, path: str) -> list[str]:
        ids: list[str] = []
        while True:
            cursor = {"starting_after": ids[-1]} if ids else {}
            page = http.get(f"/v1/{path}", params={"limit": 100, **cursor}).json()
            ids.extend(o["id"] for o in page["data"])
            if not page["has_more"]:
                return ids

    with (
        serve_in_thread(create_app(tmp_path)) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}) as http,
    ):
        before = {p: listed(http, p) for p in ("events", "invoices", "charges")}
        advance(tmp_path, 3)
        after = {p: listed(http, p) for p in ("events", "invoices", "charges")}
    for path, obj in (("events", "event"), ("invoices", "invoice"), ("charges", "charge")):
        assert len(after[path]) == truth(obj), path
    assert set(after["events"]) - set(before["events"])  # new events at the top
    assert set(before["events"]) - set(after["events"])  # the 30-day window moved on
