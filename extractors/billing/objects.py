"""The catalogue of billing objects q2c extracts, and how each one is read.

Each `BillingObject` names the Stripe `object` value (which is also the raw table:
`raw.billing__<name>`), its list endpoint, whether that endpoint filters on `created` (per
Stripe's OpenAPI spec, `paths[...].get.parameters`), fixed list parameters, how to retrieve one
object by id (for event-driven re-reads) and the child objects it carries. How often each is
read is the ownership contract's to say (its `sync.expected_lag`), not this catalogue's.

Children are landed with their parent, never listed on their own:
- `line_item`: an invoice's `lines` (paged through `/v1/invoices/{id}/lines` when `has_more`);
- `subscription_item`: a subscription's `items` (paged through
  `/v1/subscription_items?subscription=` when `has_more`);
- `payout_balance_transaction`: what a payout settled (`/v1/balance_transactions?payout=`),
  object id `<payout id>:<balance transaction id>`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BillingObject:
    """How one billing object is listed and retrieved."""

    name: str
    list_path: str | None
    description: str
    created_filter: bool = True
    list_params: dict[str, Any] = field(default_factory=dict)
    retrieve_path: str | None = None
    children: tuple[str, ...] = ()
    #: listed objects carry `created`; children such as invoice lines do not
    requires_created: bool = True
    #: the epoch field the `created` list filter and the cursor follow (`date` on invoice items)
    created_field: str = "created"
    #: (field, value): objects whose latest landed version has `field == value` still change
    #: without an event; the incremental window reaches back to the oldest of them
    reread_while: tuple[str, str] | None = None


OBJECTS: dict[str, BillingObject] = {
    o.name: o
    for o in [
        BillingObject(
            "customer",
            "/v1/customers",
            "Billing customers: who is invoiced, their currency, balance and the linked "
            "Salesforce account.",
            retrieve_path="/v1/customers/{id}",
        ),
        BillingObject(
            "product",
            "/v1/products",
            "The catalogue of what is sold (plans, add-ons, services).",
            retrieve_path="/v1/products/{id}",
        ),
        BillingObject(
            "price",
            "/v1/prices",
            "Price points of each product: amount in minor units, currency, billing interval.",
            retrieve_path="/v1/prices/{id}",
        ),
        BillingObject(
            "coupon",
            "/v1/coupons",
            "Discounts that can be applied to customers, subscriptions and invoices.",
            retrieve_path="/v1/coupons/{id}",
        ),
        BillingObject(
            "tax_rate",
            "/v1/tax_rates",
            "Tax rates applied to invoices (VAT and sales tax by country), with their percentage.",
            retrieve_path="/v1/tax_rates/{id}",
        ),
        BillingObject(
            "subscription",
            "/v1/subscriptions",
            "Recurring contracts in every status (active, trialing, past due, canceled...), "
            "the source of MRR and churn.",
            list_params={"status": "all"},
            retrieve_path="/v1/subscriptions/{id}",
            children=("subscription_item",),
        ),
        BillingObject(
            "subscription_item",
            None,
            "The priced lines of each subscription (which price, what quantity).",
            created_filter=False,
            retrieve_path=None,
        ),
        BillingObject(
            "invoice",
            "/v1/invoices",
            "Invoices issued to customers, drafts to paid or void: amounts due, paid and "
            "remaining, tax, due dates.",
            retrieve_path="/v1/invoices/{id}",
            children=("line_item",),
        ),
        BillingObject(
            "line_item",
            None,
            "The lines of each invoice: what was charged, for which period, at what amount.",
            created_filter=False,
            requires_created=False,
        ),
        BillingObject(
            "invoiceitem",
            "/v1/invoiceitems",
            "One-off charges and credits added to a customer's next invoice.",
            retrieve_path="/v1/invoiceitems/{id}",
            created_field="date",  # an invoice item has `date`, and the list filters it as created
        ),
        BillingObject(
            "credit_note",
            "/v1/credit_notes",
            "Credit notes that reduce an issued invoice (refunds, credits, write-offs).",
            created_filter=False,  # Stripe's list has no `created` filter: always a full list
            retrieve_path="/v1/credit_notes/{id}",
        ),
        BillingObject(
            "payment_intent",
            "/v1/payment_intents",
            "Payment attempts on invoices: status of each collection attempt.",
            retrieve_path="/v1/payment_intents/{id}",
        ),
        BillingObject(
            "charge",
            "/v1/charges",
            "Money actually charged to a card or bank account, succeeded or failed.",
            retrieve_path="/v1/charges/{id}",
        ),
        BillingObject(
            "refund",
            "/v1/refunds",
            "Money returned to customers against a charge.",
            retrieve_path="/v1/refunds/{id}",
        ),
        BillingObject(
            "dispute",
            "/v1/disputes",
            "Chargebacks customers raised with their bank, with amounts and response deadlines.",
            retrieve_path="/v1/disputes/{id}",
        ),
        BillingObject(
            "balance_transaction",
            "/v1/balance_transactions",
            "Every movement of the billing balance (charges, refunds, fees, payouts) with gross, "
            "fee and net amounts: the ledger the payouts are reconciled against.",
            retrieve_path="/v1/balance_transactions/{id}",
            # Funds turn from pending to available on `available_on` (days after `created`)
            # and Stripe sends no event for it.
            reread_while=("status", "pending"),
        ),
        BillingObject(
            "payout",
            "/v1/payouts",
            "Transfers of the balance to the company's bank account.",
            retrieve_path="/v1/payouts/{id}",
            children=("payout_balance_transaction",),
        ),
        BillingObject(
            "payout_balance_transaction",
            None,
            "Which balance transactions each payout settled (for payout reconciliation).",
            created_filter=False,
        ),
        BillingObject(
            "account",
            "/v1/accounts",
            "Connected accounts (partners paid through the platform) and their verification.",
            retrieve_path="/v1/accounts/{id}",
            requires_created=False,  # optional on Stripe's account object
        ),
        BillingObject(
            "transfer",
            "/v1/transfers",
            "Money sent from the platform balance to connected accounts.",
            retrieve_path="/v1/transfers/{id}",
        ),
        BillingObject(
            "event",
            "/v1/events",
            "The billing change log (last 30 days): every create, update and delete, used to "
            "re-read changed invoices, subscriptions, payments and to record deletions.",
        ),
    ]
}

#: Objects read by their own list endpoint (children come with their parents).
LISTED_OBJECTS: tuple[str, ...] = tuple(
    name for name, o in OBJECTS.items() if o.list_path is not None and name != "event"
)

#: Which parent lands each child.
PARENT_OF: dict[str, str] = {child: o.name for o in OBJECTS.values() for child in o.children}

#: Event types that end in `.deleted` but do not delete the object they carry: a subscription
#: ending is `customer.subscription.deleted`, and the subscription still lists as `canceled`.
NOT_A_DELETION: frozenset[str] = frozenset({"customer.subscription.deleted"})
