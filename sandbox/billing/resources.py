"""The list endpoints the stand-in serves and the filters each one takes.

One `Resource` per `/v1/<path>`: the `object` value of its rows in `billing.sqlite`, the
name Stripe uses in "No such <kind>" messages, and its filters. A filter maps a query
parameter either to a column of `objects` (indexed: `customer`, `parent`, `payout`,
`status`, `type`, `delivered`) or to a JSON path in the body (`json_extract`). Parameters an
endpoint does not list are refused with `parameter_unknown`, as Stripe does; the lists follow
`paths["/v1/<path>"].get.parameters` of Stripe's OpenAPI spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Kind(Enum):
    """How a filter's value is read and compared."""

    TEXT = "text"  #: equality on a string
    BOOL = "bool"  #: `true` / `false`
    TEXT_LIST = "text_list"  #: `ids[]=a&ids[]=b` -> IN (...)


@dataclass(frozen=True)
class Filter:
    """A list filter: a column of `objects` or a JSON path of the body."""

    column: str | None = None
    json_path: str | None = None
    kind: Kind = Kind.TEXT

    def sql(self) -> str:
        """The SQL expression the value is compared with."""
        if self.column is not None:
            return self.column
        return f"json_extract(body, '{self.json_path}')"


def _col(name: str, kind: Kind = Kind.TEXT) -> Filter:
    return Filter(column=name, kind=kind)


def _js(path: str, kind: Kind = Kind.TEXT) -> Filter:
    return Filter(json_path=path, kind=kind)


@dataclass(frozen=True)
class Resource:
    """A list/retrieve endpoint `/v1/<path>` over rows of one `object` type."""

    path: str
    object: str
    kind: str
    filters: dict[str, Filter] = field(default_factory=dict)
    retrievable: bool = True
    #: parameters the endpoint accepts but the stand-in ignores (no effect on the world)
    ignored: frozenset[str] = frozenset()


RESOURCES: dict[str, Resource] = {
    r.path: r
    for r in [
        Resource(
            "customers",
            "customer",
            "customer",
            {"email": _js("$.email")},
            ignored=frozenset({"test_clock"}),
        ),
        Resource(
            "products",
            "product",
            "product",
            {
                "active": _js("$.active", Kind.BOOL),
                "shippable": _js("$.shippable", Kind.BOOL),
                "ids": _col("id", Kind.TEXT_LIST),
                "url": _js("$.url"),
            },
        ),
        Resource(
            "prices",
            "price",
            "price",
            {
                "active": _js("$.active", Kind.BOOL),
                "currency": _js("$.currency"),
                "product": _js("$.product"),
                "type": _js("$.type"),
                "lookup_keys": _js("$.lookup_key", Kind.TEXT_LIST),
            },
        ),
        Resource("coupons", "coupon", "coupon"),
        Resource(
            "tax_rates",
            "tax_rate",
            "tax rate",
            {"active": _js("$.active", Kind.BOOL), "inclusive": _js("$.inclusive", Kind.BOOL)},
        ),
        Resource(
            "subscriptions",
            "subscription",
            "subscription",
            {
                "customer": _col("customer"),
                "collection_method": _js("$.collection_method"),
            },
            ignored=frozenset({"test_clock"}),
        ),
        Resource(
            "subscription_items",
            "subscription_item",
            "subscription item",
            {"subscription": _col("parent")},
        ),
        Resource(
            "invoices",
            "invoice",
            "invoice",
            {
                "customer": _col("customer"),
                "status": _col("status"),
                "subscription": _js("$.subscription"),
                "collection_method": _js("$.collection_method"),
            },
        ),
        Resource(
            "invoiceitems",
            "invoiceitem",
            "invoiceitem",
            {"customer": _col("customer"), "invoice": _js("$.invoice")},
        ),
        Resource(
            "credit_notes",
            "credit_note",
            "credit note",
            {"customer": _col("customer"), "invoice": _js("$.invoice")},
        ),
        Resource(
            "payment_intents", "payment_intent", "payment_intent", {"customer": _col("customer")}
        ),
        Resource(
            "charges",
            "charge",
            "charge",
            {
                "customer": _col("customer"),
                "payment_intent": _js("$.payment_intent"),
                "transfer_group": _js("$.transfer_group"),
            },
        ),
        Resource(
            "refunds",
            "refund",
            "refund",
            {"charge": _js("$.charge"), "payment_intent": _js("$.payment_intent")},
        ),
        Resource(
            "disputes",
            "dispute",
            "dispute",
            {"charge": _js("$.charge"), "payment_intent": _js("$.payment_intent")},
        ),
        Resource(
            "balance_transactions",
            "balance_transaction",
            "balance transaction",
            {
                "payout": _col("payout"),
                "type": _col("type"),
                "currency": _js("$.currency"),
                "source": _js("$.source"),
            },
        ),
        Resource(
            "payouts",
            "payout",
            "payout",
            {"status": _col("status"), "destination": _js("$.destination")},
        ),
        Resource("accounts", "account", "account"),
        Resource(
            "transfers",
            "transfer",
            "transfer",
            {"destination": _js("$.destination"), "transfer_group": _js("$.transfer_group")},
        ),
        Resource(
            "events",
            "event",
            "event",
            {"delivery_success": _col("delivered", Kind.BOOL)},
        ),
    ]
}

#: Every list endpoint takes these.
COMMON_LIST_PARAMS = frozenset({"limit", "starting_after", "ending_before", "expand", "created"})

#: Subscription statuses `status=` takes, besides `all` and `ended`.
SUBSCRIPTION_STATUSES = frozenset(
    {
        "active",
        "past_due",
        "unpaid",
        "canceled",
        "incomplete",
        "incomplete_expired",
        "trialing",
        "paused",
    }
)

#: Stripe keeps events for 30 days; older ones are neither listed nor retrievable.
EVENT_RETENTION_SECONDS = 30 * 86_400
