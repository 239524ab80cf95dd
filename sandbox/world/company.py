"""One company's whole life across the three systems, simulated from its own seeded stream.

`simulate_company` draws a company (CRM account, contacts, deals, cases), and for customers the
billing side (customer, subscription with trial, coupons, seat changes with proration, cycle
invoices with tax and discounts, payment attempts with dunning retries, refunds with credit
notes, disputes, partner transfers, balance transactions) and the postings finance made in the
ERP. Discrepancies are injected here, at the moment the company's records are written, and
recorded in the ground truth. Cross-company aggregates (payouts) are handed to `Settlement`.
"""

from __future__ import annotations

import calendar
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.world import stripe_objects as so
from sandbox.world.catalog import PLANS, Catalog
from sandbox.world.config import (
    CARD_FEES,
    COUNTRIES,
    COUNTRY_WEIGHTS,
    DAY,
    DISPUTE_FEE,
    EU_COUNTRIES,
    HISTORY_DAYS,
    PARTNER_SHARE_BPS,
)
from sandbox.world.crm import SalesforceIds, money, record, sf_date
from sandbox.world.ids import B62, stripe_id
from sandbox.world.ledger import CURRENCY_IDS, Ledger, month_index
from sandbox.world.people import (
    People,
    gb_vat,
    invalid_vat,
    us_ein,
    valid_vat,
)
from sandbox.world.profiles import DEFAULT, UNMAPPED_STATUS, Profile
from sandbox.world.settlement import Settlement
from sandbox.world.store import WorldWriter

_COUNTRY_CODES = [c for c, _ in COUNTRY_WEIGHTS]
_COUNTRY_W = [w for _, w in COUNTRY_WEIGHTS]
INDUSTRIES = (
    "Technology",
    "Retail",
    "Healthcare",
    "Finance",
    "Manufacturing",
    "Media",
    "Education",
    "Logistics",
)
CASE_SUBJECTS = (
    "Cannot log in",
    "How do I add seats?",
    "Export to CSV fails",
    "Question about invoice",
    "SSO configuration",
    "API rate limit",
    "Feature request: audit log",
    "Slow dashboard",
)
BRANDS = ("visa", "mastercard", "amex")
#: a rep rounds a deal's Amount to whole tens (minor units of 2-decimal currencies)
ACCOUNT_ONLY_AMOUNT_ROUNDING = 1000


@dataclass
class Users:
    """Salesforce user ids by role."""

    integration: str
    reps: list[str]
    agents: list[str]


@dataclass
class Ctx:
    """What every company's simulation shares."""

    seed: int
    scale: str
    now: int
    start: int  # first second of history
    w: WorldWriter
    cat: Catalog
    people: People
    sf: SalesforceIds
    ledger: Ledger
    users: Users
    partners: dict[str, list[str]]  # currency -> connected account ids
    settle: Settlement
    ev_start: int
    coupon_uses: Counter[str] = field(default_factory=Counter)
    flags: dict[str, bool] = field(default_factory=dict)
    profile: Profile = DEFAULT


def add_months(anchor: int, n: int) -> int:
    """`anchor` moved by `n` calendar months, its day of month clamped (Stripe's billing cycle)."""
    d = datetime.fromtimestamp(anchor, UTC)
    m = d.month - 1 + n
    y, m = d.year + m // 12, m % 12 + 1
    day = min(d.day, calendar.monthrange(y, m)[1])
    return int(datetime(y, m, day, d.hour, d.minute, d.second, tzinfo=UTC).timestamp())


def pct(amount: int, bps: int) -> int:
    """`amount` x bps/10000, rounded half away from zero (minor units stay integers)."""
    q = (abs(amount) * bps + 5000) // 10000
    return q if amount >= 0 else -q


class Company:
    """The simulation of company number `index`."""

    def __init__(self, ctx: Ctx, index: int, *, window: tuple[int, int] | None = None) -> None:
        self.ctx = ctx
        self.i = index
        self.rng = rng = random.Random(f"{ctx.seed}:company:{index}")
        self.window = window
        self.country = rng.choices(_COUNTRY_CODES, _COUNTRY_W)[0]
        self.locale, self.currency, self.vat_bps, self.subsidiary = COUNTRIES[self.country]
        fk = ctx.people.faker(self.country, ctx.seed * 1_000_003 + index)
        self.fk = fk
        self.co = ctx.people.company(fk, self.country)
        self.persons = [ctx.people.person(fk, self.co.domain) for _ in range(rng.randint(1, 3))]
        self.is_customer = window is not None or rng.random() < 0.85
        self.failing_card = rng.random() < 0.03
        now = ctx.now
        if window is not None:
            self.begin = rng.randint(window[0], window[1] - 1)
        else:
            age = int((HISTORY_DAYS - 1) * rng.random() ** 0.42)
            if rng.random() < 0.03:  # the last fortnight's sign-ups, most still in trial
                age = rng.randint(1, 13)
            self.begin = max(ctx.start + 3600, now - age * DAY - rng.randint(0, DAY - 1))
        self.account_created = self.begin - rng.randint(10, 120) * DAY - rng.randint(0, DAY)
        # a company won while the clock advances appears in the CRM that day, not in the past
        self.floor = window[0] if window else 0
        self.account_created = max(self.account_created, self.floor)
        self.owner = rng.choice(ctx.users.reps)
        self.account_id = ctx.sf.new("Account")
        self.link_break: str | None = None
        if self.is_customer and window is None:
            r = rng.random()
            if r < 0.02:
                self.link_break = "customer_without_account"
            elif r < 0.045:
                self.link_break = "customer_linked_to_deleted_account"
            elif r < 0.075:
                self.link_break = "deal_without_subscription"
            elif r < 0.105:
                self.link_break = "subscription_without_deal"
        self.events_late = 0
        # the org's mess draws from its own stream: the business is the same in every profile
        self.mrng = random.Random(f"{ctx.seed}:mess:{index}")
        prof = ctx.profile
        self.account_only_link = (
            not prof.is_default
            and self.is_customer
            and window is None
            and self.link_break in (None, "deal_without_subscription")
            and self.mrng.random() < prof.account_only_link_share
        )

    # ------------------------------------------------------------------ helpers
    def short_id(self, record_id: str, holder: str) -> str:
        """A Salesforce id as an integration copied it into billing metadata: under a profile
        with `short_id_share`, sometimes the 15-character case-sensitive id (the same record
        as its 18-character form; `mess` row `short_salesforce_id` naming the record and the
        billing object `holder` whose metadata holds it)."""
        prof = self.ctx.profile
        if prof.is_default or self.mrng.random() >= prof.short_id_share:
            return record_id
        self.ctx.w.mess(
            "short_salesforce_id",
            {"record": record_id, "billing_object": holder},
            {"stored": record_id[:15]},
        )
        return record_id[:15]

    def first(self, what: str) -> bool:
        """True the first time a company of this world asks about `what`."""
        if self.ctx.flags.get(what):
            return False
        self.ctx.flags[what] = True
        return True

    def event(
        self,
        type_: str,
        obj: dict[str, Any],
        created: int,
        previous: dict[str, Any] | None = None,
        *,
        inject: bool = True,
    ) -> str | None:
        """Emit an event if `created` is inside the kept window; may inject event breaks."""
        ctx = self.ctx
        if created < ctx.ev_start or created > ctx.now:
            return None
        rng = self.rng
        body = so.event(rng, type_, obj, created, previous)
        r = rng.random() if inject else 1.0
        delivered = 1
        if r < 0.006 and created + 2 <= ctx.now:
            dup = so.event(rng, type_, obj, created + 1, previous)
            ctx.w.billing(dup, type_=type_, delivered=1)
            ctx.w.discrepancy(
                "event_duplicate",
                "billing",
                {"event": dup["id"], "duplicate_of": body["id"]},
                {"type": type_, "object_id": obj["id"]},
            )
        elif r < 0.012:
            lag = rng.randint(3600, 6 * 3600)
            if created + lag <= ctx.now:
                body["created"] = created + lag
                delivered = 0
                ctx.w.discrepancy(
                    "event_late",
                    "billing",
                    {"event": body["id"]},
                    {
                        "type": type_,
                        "object_id": obj["id"],
                        "changed_at": created,
                        "event_created": created + lag,
                        "delivered": False,
                    },
                )
        ctx.w.billing(body, type_=type_, delivered=delivered)
        return body["id"]

    def bt(
        self,
        *,
        amount: int,
        fee: int,
        created: int,
        source: str,
        type_: str,
        category: str,
        description: str | None,
        avail: int | None = None,
    ) -> str:
        """Write a balance transaction and hand it to the settlement of its payout."""
        ctx = self.ctx
        avail = so.available_on(created) if avail is None else avail
        body = so.balance_transaction(
            self.rng,
            amount=amount,
            fee=fee,
            currency=self.currency,
            created=created,
            source=source,
            type_=type_,
            category=category,
            description=description,
            available_on=avail,
            now=ctx.now,
        )
        payout = ctx.settle.add(self.currency, avail, amount - fee, fee, body["id"])
        ctx.w.billing(body, payout=payout, status=body["status"], type_=type_)
        return body["id"]

    # ------------------------------------------------------------------ main
    def run(self) -> None:
        """Simulate and write everything of this company."""
        ctx = self.ctx
        # CRM ids first: the billing side refers to the account and the deal
        self.contact_ids = [ctx.sf.new("Contact") for _ in self.persons]
        self.opp_id = ctx.sf.new("Opportunity") if self.is_customer else None
        billing: dict[str, Any] | None = None
        if self.is_customer:
            billing = self.billing()
        self.crm(billing)

    # ------------------------------------------------------------------ CRM

    def crm(self, billing: dict[str, Any] | None) -> None:
        """Write the CRM account (billing fields as last synced), contacts, deals and cases."""
        ctx, rng, co = self.ctx, self.rng, self.co
        w = ctx.w
        integ = ctx.users.integration
        deleted_account = self.link_break == "customer_linked_to_deleted_account"
        delete_at = None
        if deleted_account:
            delete_at = rng.randint(max(self.begin + DAY, ctx.now - 200 * DAY), ctx.now - 3600)
        elif not self.is_customer and rng.random() < 0.02:
            delete_at = rng.randint(self.account_created + DAY, ctx.now - 3600)
        status = "none"
        mrr = arr = 0
        last_pay = None
        if billing:
            status, mrr, last_pay = billing["status"], billing["mrr"], billing["last_payment"]
        shown_status = status
        if billing and not deleted_account and self.link_break is None and rng.random() < 0.04:
            stale = {
                "active": "past_due",
                "past_due": "active",
                "canceled": "active",
                "unpaid": "past_due",
                "trialing": "active",
            }[status]
            shown_status = stale
            w.discrepancy(
                "crm_billing_status_stale",
                "salesforce",
                {
                    "account": self.account_id,
                    "customer": billing["customer"],
                    "subscription": billing["subscription"],
                },
                {"crm_status": stale, "billing_status": status},
            )
        prof = ctx.profile
        if (
            not prof.is_default
            and billing
            and self.link_break is None
            and shown_status == status
            # the first candidate always, so small worlds have one
            and (self.first("unmapped_status") or self.mrng.random() < prof.unmapped_status_share)
        ):
            shown_status = UNMAPPED_STATUS
            w.dq_problem(
                "unmapped_value",
                "salesforce",
                "Account",
                self.account_id,
                prof.crm_field("Account", "Billing_Status__c"),
                UNMAPPED_STATUS,
                {"value_map": "billing_status", "billing_status": status},
            )
        self.won_not_billed = (
            not prof.is_default
            and not billing
            and delete_at is None
            and self.window is None
            and (self.first("won_not_billed") or self.mrng.random() < prof.won_not_billed_share)
        )
        # the last edit: a person's, or the previous billing sync's for customers
        modified = rng.randint(self.account_created, ctx.now - 60)
        if billing:
            modified = max(modified, min(ctx.now - 60, billing["last_change"] + 600))
        modified_by = integ if billing and rng.random() < 0.5 else rng.choice(ctx.users.reps)
        cust_link = billing["customer"] if billing else None
        if self.link_break == "customer_without_account":
            cust_link = None
        acct = record(
            "Account",
            self.account_id,
            created=self.account_created,
            created_by=self.owner,
            modified=delete_at or modified,
            modified_by=modified_by if not delete_at else self.owner,
            deleted=delete_at is not None,
            OwnerId=self.owner,
            Name=co.name,
            Type="Customer" if billing or self.won_not_billed else "Prospect",
            Industry=rng.choice(INDUSTRIES),
            BillingStreet=co.street,
            BillingCity=co.city,
            BillingPostalCode=co.postcode,
            BillingCountry=co.country,
            Phone=co.phone,
            Website="https://www." + co.domain,
            Billing_Customer_Id__c=cust_link,
            MRR__c=money(mrr) if billing else None,
            ARR__c=money(arr or mrr * 12) if billing else None,
            Billing_Status__c=shown_status,
            Last_Payment_Date__c=sf_date(last_pay) if last_pay else None,
            Payout_Hold_Reason__c=None,
            CurrencyIsoCode=self.currency.upper(),
        )
        w.salesforce("Account", acct)
        w.pii("salesforce", "Account", self.account_id, "Phone", co.phone)
        w.pii("salesforce", "Account", self.account_id, "BillingStreet", co.street)
        for cid, p in zip(self.contact_ids, self.persons, strict=True):
            created = self.account_created + rng.randint(0, 30 * DAY)
            created = min(created, ctx.now - 120)
            cdel = delete_at or (
                rng.randint(created, ctx.now - 60) if rng.random() < 0.01 else None
            )
            mod = cdel or rng.randint(created, ctx.now - 60)
            street = self.fk.street_address() if rng.random() < 0.5 else co.street
            body = record(
                "Contact",
                cid,
                created=created,
                created_by=self.owner,
                modified=mod,
                modified_by=rng.choice(ctx.users.reps),
                deleted=cdel is not None,
                OwnerId=self.owner,
                AccountId=self.account_id,
                FirstName=p.first_name,
                LastName=p.last_name,
                Email=p.email,
                Phone=p.phone,
                MailingStreet=street,
                MailingCity=co.city,
                MailingCountry=co.country,
                Title=p.title,
            )
            w.salesforce("Contact", body)
            for fname, value in (
                ("FirstName", p.first_name),
                ("LastName", p.last_name),
                ("Email", p.email),
                ("Phone", p.phone),
                ("MailingStreet", street),
            ):
                w.pii("salesforce", "Contact", cid, fname, value)
        self.opportunities(billing, delete_at)
        self.cases(billing, delete_at)

    def opportunities(self, billing: dict[str, Any] | None, delete_at: int | None) -> None:
        """Write the deals: the Closed Won one behind the subscription, and others."""
        ctx, rng, w = self.ctx, self.rng, self.ctx.w
        reps = ctx.users.reps
        name = self.co.name

        def opp(
            oid: str, stage: str, close: int, amount: int, sub: str | None, title: str, created: int
        ) -> None:
            created = max(min(created, ctx.now - 120), self.floor)
            odel = delete_at
            if odel is None and stage not in ("Closed Won",) and rng.random() < 0.03:
                odel = rng.randint(created, ctx.now - 60)
            mod = odel or min(ctx.now - 60, max(created, close) + rng.randint(0, 3 * DAY))
            w.salesforce(
                "Opportunity",
                record(
                    "Opportunity",
                    oid,
                    created=created,
                    created_by=self.owner,
                    modified=mod,
                    modified_by=rng.choice(reps),
                    deleted=odel is not None,
                    OwnerId=self.owner,
                    AccountId=self.account_id,
                    Name=f"{name} - {title}",
                    StageName=stage,
                    Amount=money(amount),
                    CloseDate=sf_date(close),
                    CurrencyIsoCode=self.currency.upper(),
                    Billing_Subscription_Id__c=sub,
                ),
            )

        if billing and self.link_break != "subscription_without_deal":
            close, amount = billing["start"], billing["acv"]
            if self.account_only_link:
                close, amount = self.deal_as_the_rep_entered_it(close, amount)
            opp(
                self.opp_id,
                "Closed Won",
                close,
                amount,
                None if self.account_only_link else billing["subscription"],
                "New Business",
                billing["start"] - 30 * DAY,
            )
            if self.account_only_link:
                w.mess(
                    "account_only_link",
                    {
                        "opportunity": self.opp_id,
                        "subscription": billing["subscription"],
                        "account": self.account_id,
                    },
                    {
                        "amount": money(amount),
                        "annual_value": money(billing["acv"]),
                        "currency": self.currency,
                        "close_date": sf_date(close),
                        "subscription_start": sf_date(billing["start"]),
                    },
                )
        elif self.opp_id:
            self.opp_id = None
        if self.won_not_billed:
            self.won_deal_not_billed()
        if billing and self.link_break == "deal_without_subscription":
            oid = ctx.sf.new("Opportunity")
            close = rng.randint(max(billing["start"], ctx.now - 120 * DAY), ctx.now - DAY)
            opp(
                oid,
                "Closed Won",
                close,
                billing["acv"] // 3 + 100_00,
                None,
                "Expansion",
                close - 20 * DAY,
            )
            w.discrepancy(
                "deal_without_subscription",
                "salesforce",
                {"opportunity": oid, "account": self.account_id},
                {
                    "amount": money(billing["acv"] // 3 + 100_00),
                    "currency": self.currency,
                    "close_date": sf_date(close),
                },
            )
        n_other = rng.choice((0, 0, 1, 1, 2)) if billing else rng.choice((1, 1, 2))
        if self.window:
            n_other = 0
        for _ in range(n_other):
            oid = ctx.sf.new("Opportunity")
            created = rng.randint(self.account_created, ctx.now - DAY)
            close = created + rng.randint(20, 90) * DAY
            stage = (
                "Closed Lost"
                if close < ctx.now
                else rng.choice(
                    ("Prospecting", "Qualification", "Proposal/Price Quote", "Negotiation/Review")
                )
            )
            opp(
                oid,
                stage,
                close,
                rng.randint(50, 2000) * 1000,
                None,
                rng.choice(("Upsell", "Renewal", "New Business", "Pilot")),
                created,
            )

    def deal_as_the_rep_entered_it(self, start: int, acv: int) -> tuple[int, int]:
        """Close date and Amount of a deal no id links to its subscription: closed up to
        three weeks before the subscription started, and in a third of them the Amount
        rounded to whole tens (`ACCOUNT_ONLY_AMOUNT_ROUNDING` minor units), as reps type it."""
        mrng = self.mrng
        close = max(self.account_created + DAY, start - mrng.randint(0, 21) * DAY)
        if mrng.random() < 1 / 3:
            unit = ACCOUNT_ONLY_AMOUNT_ROUNDING
            acv = max(unit, (acv + unit // 2) // unit * unit)
        return close, acv

    def won_deal_not_billed(self) -> None:
        """A deal won in the last weeks whose customer billing has not set up yet (messy)."""
        ctx, mrng = self.ctx, self.mrng
        oid = ctx.sf.new("Opportunity")
        close = ctx.now - mrng.randint(2, 25) * DAY - mrng.randint(0, DAY - 1)
        close = max(close, self.account_created + DAY)
        created = max(self.account_created, close - mrng.randint(15, 60) * DAY)
        amount = mrng.randint(6, 240) * 1000_00
        ctx.w.salesforce(
            "Opportunity",
            record(
                "Opportunity",
                oid,
                created=created,
                created_by=self.owner,
                modified=min(ctx.now - 60, close + mrng.randint(60, DAY)),
                modified_by=self.owner,
                OwnerId=self.owner,
                AccountId=self.account_id,
                Name=f"{self.co.name} - New Business",
                StageName="Closed Won",
                Amount=money(amount),
                CloseDate=sf_date(close),
                CurrencyIsoCode=self.currency.upper(),
            ),
        )
        ctx.w.discrepancy(
            "deal_without_subscription",
            "salesforce",
            {"opportunity": oid, "account": self.account_id},
            {
                "amount": money(amount),
                "currency": self.currency,
                "close_date": sf_date(close),
                "billing_customer": None,
            },
        )

    def cases(self, billing: dict[str, Any] | None, delete_at: int | None) -> None:
        """Write support cases; a company in dunning has an open billing case."""
        ctx, rng, w = self.ctx, self.rng, self.ctx.w
        agents = ctx.users.agents
        specs: list[tuple[str, int, bool, str]] = []
        n = rng.choice((0, 0, 1, 1, 2, 3)) if billing else rng.choice((0, 0, 0, 1))
        if self.window:
            n = 0
        for _ in range(n):
            created = rng.randint(self.account_created, ctx.now - 3600)
            specs.append(
                (
                    rng.choice(CASE_SUBJECTS),
                    created,
                    False,
                    rng.choice(("Low", "Medium", "Medium", "High")),
                )
            )
        if billing and billing["dunning_invoice"]:
            created = min(ctx.now - 600, billing["dunning_since"] + rng.randint(3600, 2 * DAY))
            specs.append(
                (f"Payment failed on invoice {billing['dunning_number']}", created, True, "High")
            )
        for subject, created, is_billing, priority in specs:
            cid = ctx.sf.new("Case")
            is_open = is_billing or created > ctx.now - 14 * DAY or rng.random() < 0.05
            flag = bool(is_billing)
            # the first dunning case of a world always misses the flag, so small worlds have one
            first = not ctx.flags.get("dunning_case")
            if is_billing and self.link_break is None and (rng.random() < 0.3 or first):
                ctx.flags["dunning_case"] = True
                flag = False
                w.discrepancy(
                    "case_dunning_without_priority",
                    "salesforce",
                    {
                        "case": cid,
                        "account": self.account_id,
                        "invoice": billing["dunning_invoice"],
                    },
                    {"subscription_status": billing["status"], "priority": priority},
                )
            status = rng.choice(("New", "Working", "Escalated")) if is_open else "Closed"
            mod = delete_at or min(ctx.now - 60, created + rng.randint(600, 10 * DAY))
            who = rng.choice(agents)
            body = record(
                "Case",
                cid,
                created=created,
                created_by=who,
                modified=mod,
                modified_by=who,
                deleted=delete_at is not None,
                OwnerId=who,
                AccountId=self.account_id,
                CaseNumber=f"{ctx.sf.next['Case'] - 1:08d}",
                Subject=subject,
                Description=f"{self.persons[0].first_name} wrote: {subject}.",
                Status=status,
                Priority=priority,
                Origin=rng.choice(("Email", "Phone", "Web")),
                Billing_Priority_Flag__c=flag,
            )
            w.salesforce("Case", body)

    # ------------------------------------------------------------------ billing
    def billing(self) -> dict[str, Any]:
        """Write the billing customer and its subscription history; returns CRM sync facts."""
        ctx, rng, co, cat = self.ctx, self.rng, self.co, self.ctx.cat
        w = ctx.w
        cur = self.currency
        self.cus_id = cus_id = stripe_id(rng, "cus", 14)
        cus_created = self.begin - rng.randint(60, 3600)
        self.billing_email = f"billing@{co.domain}" if rng.random() < 0.6 else self.persons[0].email
        self.card = {
            "brand": rng.choice(BRANDS),
            "last4": "".join(rng.choices("0123456789", k=4)),
            "exp_month": rng.randint(1, 12),
            "exp_year": rng.randint(2027, 2031),
            "country": self.country,
            "fingerprint": "".join(rng.choices(B62, k=16)),
        }
        self.pm_id = stripe_id(rng, "pm")
        self.address = {
            "city": co.city,
            "country": co.country,
            "line1": co.street,
            "line2": None,
            "postal_code": co.postcode,
            "state": None,
        }
        # tax status
        tax_ids: list[dict[str, Any]] = []
        reverse_charge = False
        tax_key: str | None = None
        if self.country in EU_COUNTRIES:
            if rng.random() < 0.85:
                number = valid_vat(rng, self.country)
                if rng.random() < 0.08:
                    number = invalid_vat(rng, number)
                    self.invalid_vat = number
                tax_ids.append({"type": "eu_vat", "value": number})
                reverse_charge = True
            else:
                tax_key = self.country
        elif self.country == "GB":
            tax_key = "GB"
            if rng.random() < 0.7:
                tax_ids.append({"type": "gb_vat", "value": gb_vat(rng)})
        else:
            if rng.random() < 0.5:
                tax_key = "US-TAX"
            if rng.random() < 0.3:
                tax_ids.append({"type": "us_ein", "value": us_ein(rng)})
        self.reverse_charge = reverse_charge
        self.tax_rate = cat.tax_rates[tax_key] if tax_key else None
        self.tax_id_objs = []
        for t in tax_ids:
            tid = stripe_id(rng, "txi")
            status = "verified"
            if t["type"] == "eu_vat":
                status = (
                    "unverified" if getattr(self, "invalid_vat", None) == t["value"] else "verified"
                )
            self.tax_id_objs.append(
                {
                    "id": tid,
                    "object": "tax_id",
                    "country": self.country,
                    "created": cus_created,
                    "customer": cus_id,
                    "livemode": False,
                    "type": t["type"],
                    "value": t["value"],
                    "verification": {
                        "status": status,
                        "verified_address": None,
                        "verified_name": co.name if status == "verified" else None,
                    }
                    if t["type"] in ("eu_vat", "gb_vat")
                    else None,
                }
            )
            w.pii("billing", "customer", cus_id, "tax_ids." + t["type"], t["value"])
        if getattr(self, "invalid_vat", None):
            w.discrepancy(
                "invalid_eu_vat",
                "billing",
                {"customer": cus_id, "account": self.account_id},
                {"vat_number": self.invalid_vat, "country": self.country},
            )
        # partner referral
        self.partner = rng.choice(ctx.partners[cur]) if rng.random() < 0.97 else None
        self.prefix = "".join(rng.choices("ABCDEF0123456789", k=8))
        self.inv_seq = 0
        self.erp_id = ctx.ledger.customer(
            co.name,
            cus_id,
            cur,
            self.subsidiary,
            self.billing_email,
            cus_created + rng.randint(3600, DAY),
        )
        self.last_payment: int | None = None
        self.last_change = cus_created
        info = self.subscription(cus_created)
        self.one_off()
        delinquent = info["status"] in ("past_due", "unpaid")
        meta = {ctx.profile.customer_account_key: self.short_id(self.account_id, cus_id)}
        if self.link_break == "customer_without_account":
            meta = {}
            w.discrepancy(
                "customer_without_account",
                "billing",
                {"customer": cus_id, "account": self.account_id},
                {"metadata": {}, "account_billing_customer_id": None},
            )
        elif self.link_break == "customer_linked_to_deleted_account":
            w.discrepancy(
                "customer_linked_to_deleted_account",
                "billing",
                {"customer": cus_id, "account": self.account_id, "opportunity": self.opp_id},
                {"account_is_deleted": True},
            )
        customer = {
            "id": cus_id,
            "object": "customer",
            "address": self.address,
            "balance": 0,
            "created": cus_created,
            "currency": cur,
            "default_source": None,
            "delinquent": delinquent,
            "description": None,
            "discount": None,
            "email": self.billing_email,
            "invoice_prefix": self.prefix,
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": self.pm_id,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": False,
            "metadata": meta,
            "name": co.name,
            "next_invoice_sequence": self.inv_seq + 1,
            "phone": co.phone,
            "preferred_locales": [self.locale.replace("_", "-")],
            "shipping": None,
            "tax_exempt": "reverse" if reverse_charge else "none",
            "test_clock": None,
            "tax_ids": so.list_of(self.tax_id_objs, f"/v1/customers/{cus_id}/tax_ids"),
        }
        w.billing(customer, customer=cus_id)
        self.event("customer.created", customer, cus_created)
        for fname, value in (
            ("name", co.name),
            ("email", self.billing_email),
            ("phone", co.phone),
            ("address.line1", co.street),
            ("address.postal_code", co.postcode),
        ):
            w.pii("billing", "customer", cus_id, fname, value)
        info["customer"] = cus_id
        info["last_payment"] = self.last_payment
        info["last_change"] = self.last_change
        return info

    def subscription(self, cus_created: int) -> dict[str, Any]:
        """Simulate the subscription from sign-up to now, invoice by invoice."""
        ctx, rng, cat = self.ctx, self.rng, self.ctx.cat
        w, now, cur = ctx.w, ctx.now, self.currency
        plan = rng.choices(list(PLANS), (50, 35, 15))[0]
        lo, hi = {"starter": (1, 10), "growth": (5, 50), "enterprise": (20, 300)}[plan]
        qty = rng.randint(lo, hi)
        interval = "year" if rng.random() < 0.15 else "month"
        months = 12 if interval == "year" else 1
        price = cat.prices[(plan, cur, interval)]
        sub_id = stripe_id(rng, "sub")
        si_id = stripe_id(rng, "si", 14)
        start = self.begin
        recent = ctx.now - start < 14 * DAY
        trial_end = start + 14 * DAY if rng.random() < (0.7 if recent else 0.15) else None
        coupon = None
        if rng.random() < 0.12:
            coupon = rng.choice([c for c in cat.coupons if c["currency"] in (None, cur)])
            ctx.coupon_uses[coupon["id"]] += 1
        discount = None
        if coupon:
            end = (
                add_months(start, coupon["duration_in_months"])
                if coupon["duration"] == "repeating"
                else None
            )
            discount = {
                "id": stripe_id(rng, "di"),
                "object": "discount",
                "checkout_session": None,
                "coupon": coupon,
                "customer": self.cus_id,
                "end": end,
                "invoice": None,
                "invoice_item": None,
                "promotion_code": None,
                "start": start,
                "subscription": sub_id,
            }
        self.sub_id, self.si_id, self.price = sub_id, si_id, price
        self.discount = discount
        dunning_policy = rng.choice(("unpaid", "canceled"))
        churn_p = 0.10 if interval == "year" else 0.008
        status: str | None = None
        canceled_at = ended_at = None
        cancel_reason = None
        pending: list[dict[str, Any]] = []
        latest_invoice = None
        dunning_invoice = dunning_number = None
        dunning_since = 0
        n_invoices = 0
        qty_history = [(start, qty)]
        opp = self.opp_id if self.link_break != "subscription_without_deal" else None
        if self.account_only_link:
            opp = None
        sub_meta = (
            {ctx.profile.subscription_opportunity_key: self.short_id(opp, sub_id)} if opp else {}
        )
        if self.link_break == "subscription_without_deal":
            w.discrepancy(
                "subscription_without_deal",
                "billing",
                {"subscription": sub_id, "customer": self.cus_id, "account": self.account_id},
                {"metadata": {}},
            )
        if trial_end:
            inv = self.invoice(
                created=start,
                reason="subscription_create",
                period=(start, trial_end),
                lines=[
                    self.sub_line(
                        qty,
                        start,
                        trial_end,
                        amount=0,
                        desc=f"Trial period for {price['nickname']}",
                    )
                ],
                discount=None,
                sub_id=sub_id,
            )
            latest_invoice = inv["id"]
            n_invoices += 1
        anchor = trial_end or start
        cur_start, cur_end = start, anchor
        p_start = anchor
        k = 0
        p_end = add_months(anchor, months)
        while p_start <= now:
            p_end = add_months(anchor, (k + 1) * months)
            lines = [*pending, self.sub_line(qty, p_start, p_end)]
            pending = []
            disc = discount if self.discount_applies(discount, p_start, n_invoices) else None
            inv = self.invoice(
                created=p_start,
                reason="subscription_create" if k == 0 and not trial_end else "subscription_cycle",
                period=(p_start, p_end),
                lines=lines,
                discount=disc,
                sub_id=sub_id,
            )
            latest_invoice = inv["id"]
            cur_start, cur_end = p_start, p_end
            n_invoices += 1
            if inv["outcome"] == "open":
                status = "past_due"
                dunning_invoice, dunning_number = inv["id"], inv["number"]
                dunning_since = inv["first_failure"]
                break
            if inv["outcome"] == "uncollectible":
                status = dunning_policy
                if status == "canceled":
                    canceled_at = ended_at = inv["closed_at"]
                    cancel_reason = "payment_failed"
                else:
                    dunning_invoice, dunning_number = inv["id"], inv["number"]
                    dunning_since = inv["first_failure"]
                break
            # a seat change within the period: prorated on the next invoice
            if rng.random() < 0.05:
                t = p_start + rng.randint(DAY, max(DAY + 1, p_end - p_start - DAY))
                if t < now:
                    new_qty = max(max(1, (qty + 1) // 2), qty + rng.randint(-qty // 2, qty))
                    if new_qty != qty:
                        pending = self.proration(qty, new_qty, t, p_start, p_end)
                        qty_history.append((t, new_qty))
                        qty = new_qty
            if p_end <= now and rng.random() < churn_p:
                canceled_at = p_end - rng.randint(DAY, 20 * DAY)
                ended_at = p_end
                status = "canceled"
                cancel_reason = "cancellation_requested"
                break
            p_start = p_end
            k += 1
        if status is None:
            status = "trialing" if trial_end and trial_end > now else "active"
            if trial_end and trial_end > now:
                cur_start, cur_end = start, trial_end
        cancel_at_period_end = status == "active" and rng.random() < 0.04
        si = {
            "id": si_id,
            "object": "subscription_item",
            "billing_thresholds": None,
            "created": start,
            "metadata": {},
            "price": price,
            "quantity": qty,
            "subscription": sub_id,
            "tax_rates": [],
        }
        sub = {
            "id": sub_id,
            "object": "subscription",
            "application": None,
            "application_fee_percent": None,
            "automatic_tax": {"enabled": False},
            "billing_cycle_anchor": anchor,
            "billing_thresholds": None,
            "cancel_at": cur_end if cancel_at_period_end else None,
            "cancel_at_period_end": cancel_at_period_end,
            "canceled_at": canceled_at,
            "cancellation_details": {"comment": None, "feedback": None, "reason": cancel_reason},
            "collection_method": "charge_automatically",
            "created": start,
            "currency": cur,
            "current_period_end": cur_end,
            "current_period_start": cur_start,
            "customer": self.cus_id,
            "days_until_due": None,
            "default_payment_method": self.pm_id,
            "default_source": None,
            "default_tax_rates": [],
            "description": None,
            "discount": discount
            if discount and (discount["end"] is None or discount["end"] > now)
            else None,
            "ended_at": ended_at,
            "items": so.list_of([si], f"/v1/subscription_items?subscription={sub_id}"),
            "latest_invoice": latest_invoice,
            "livemode": False,
            "metadata": sub_meta,
            "next_pending_invoice_item_invoice": None,
            "on_behalf_of": None,
            "pause_collection": None,
            "payment_settings": {
                "payment_method_options": None,
                "payment_method_types": None,
                "save_default_payment_method": "off",
            },
            "pending_invoice_item_interval": None,
            "pending_setup_intent": None,
            "pending_update": None,
            "schedule": None,
            "start_date": start,
            "status": status,
            "test_clock": None,
            "transfer_data": None,
            "trial_end": trial_end,
            "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
            "trial_start": start if trial_end else None,
        }
        w.billing(sub, customer=self.cus_id, status=status)
        w.billing(si, parent=sub_id, customer=None, count=True)
        for p in pending:  # seat changes not yet invoiced stay pending invoice items
            self.write_invoiceitem(p, None)
        self.event(
            "customer.subscription.created",
            {**sub, "status": "trialing" if trial_end else "active"},
            start,
        )
        for t, q in qty_history[1:]:
            self.event("customer.subscription.updated", sub, t, {"quantity": q})
        if status in ("past_due", "unpaid") and dunning_since:
            self.event("customer.subscription.updated", sub, dunning_since, {"status": "active"})
        if ended_at:
            self.event("customer.subscription.deleted", sub, min(ended_at, now))
        self.last_change = max(self.last_change, canceled_at or 0, start)
        unit = price["unit_amount"]
        mrr = 0 if status in ("canceled",) else qty * unit // months
        if discount and discount["coupon"]["duration"] == "forever" and mrr:
            mrr -= pct(mrr, int(discount["coupon"]["percent_off"] * 100))
        return {
            "status": status,
            "mrr": mrr,
            "subscription": sub_id,
            "start": start,
            "acv": qty * unit * (12 // months),
            "dunning_invoice": dunning_invoice,
            "dunning_number": dunning_number,
            "dunning_since": dunning_since,
        }

    @staticmethod
    def discount_applies(discount: dict[str, Any] | None, p_start: int, n: int) -> bool:
        """Whether `discount` still applies to the invoice of a period."""
        if not discount:
            return False
        d = discount["coupon"]["duration"]
        if d == "forever":
            return True
        if d == "once":
            return n == 0
        return p_start < discount["end"]

    def sub_line(
        self, qty: int, start: int, end: int, *, amount: int | None = None, desc: str | None = None
    ) -> dict[str, Any]:
        """The line of `qty` seats for one period (spec for `invoice`)."""
        price = self.price
        amt = qty * price["unit_amount"] if amount is None else amount
        return {
            "amount": amt,
            "description": desc or f"{qty} seat × {price['nickname']}",
            "period": {"end": end, "start": start},
            "price": price,
            "proration": False,
            "quantity": qty,
            "type": "subscription",
            "invoice_item": None,
            "subscription_item": self.si_id,
        }

    def proration(
        self, old: int, new: int, t: int, p_start: int, p_end: int
    ) -> list[dict[str, Any]]:
        """The two proration lines of a seat change at `t` (credit and charge)."""
        unit = self.price["unit_amount"]
        frac_num, frac_den = p_end - t, p_end - p_start
        lines = []
        for q, sign, text in ((old, -1, "Unused time on"), (new, 1, "Remaining time on")):
            amt = sign * (q * unit * frac_num // frac_den)
            lines.append(
                {
                    "amount": amt,
                    "description": f"{text} {q} × {self.price['nickname']}",
                    "period": {"end": p_end, "start": t},
                    "price": self.price,
                    "proration": True,
                    "quantity": q,
                    "type": "invoiceitem",
                    "invoice_item": stripe_id(self.rng, "ii"),
                    "subscription_item": self.si_id,
                    "date": t,
                }
            )
        return lines

    def write_invoiceitem(self, line: dict[str, Any], invoice: str | None) -> None:
        """Write an invoice item (pending when `invoice` is None) and its event."""
        ii = {
            "id": line["invoice_item"],
            "object": "invoiceitem",
            "amount": line["amount"],
            "currency": self.currency,
            "customer": self.cus_id,
            "date": line["date"],
            "description": line["description"],
            "discountable": True,
            "discounts": [],
            "invoice": invoice,
            "livemode": False,
            "metadata": {},
            "period": line["period"],
            "price": line["price"],
            "proration": line["proration"],
            "quantity": line["quantity"],
            "subscription": self.sub_id if line["proration"] else None,
            "subscription_item": line["subscription_item"],
            "tax_rates": [],
            "test_clock": None,
            "unit_amount": line["price"]["unit_amount"],
            "unit_amount_decimal": str(line["price"]["unit_amount"]),
        }
        if ii["subscription_item"] is None:
            del ii["subscription_item"]
        self.ctx.w.billing(ii, customer=self.cus_id, parent=invoice)
        self.event("invoiceitem.created", ii, line["date"])

    def one_off(self) -> None:
        """Onboarding services invoices: some paid, some voided, some still drafts."""
        ctx, rng = self.ctx, self.rng
        if rng.random() >= 0.10:
            return
        price = ctx.cat.service_prices[self.currency]
        created = rng.randint(self.begin, ctx.now - 3600)
        kind = rng.choices(("normal", "void", "draft"), (6, 2, 2))[0]
        if kind == "draft":
            created = ctx.now - rng.randint(3600, 3 * DAY)
        line = {
            "amount": price["unit_amount"],
            "description": "Onboarding services",
            "period": {"end": created, "start": created},
            "price": price,
            "proration": False,
            "quantity": 1,
            "type": "invoiceitem",
            "invoice_item": stripe_id(rng, "ii"),
            "subscription_item": None,
            "date": created,
        }
        self.invoice(
            created=created,
            reason="manual",
            period=(created, created),
            lines=[line],
            discount=None,
            sub_id=None,
            kind=kind,
        )

    # ------------------------------------------------------------------ invoices
    def invoice(
        self,
        *,
        created: int,
        reason: str,
        period: tuple[int, int],
        lines: list[dict[str, Any]],
        discount: dict[str, Any] | None,
        sub_id: str | None,
        kind: str = "normal",
    ) -> dict[str, Any]:
        """Bill, collect and post one invoice; returns its id, number and outcome."""
        ctx, rng, w = self.ctx, self.rng, self.ctx.w
        now, cur = ctx.now, self.currency
        inv_id = stripe_id(rng, "in")
        finalize_at = created + (3600 if reason == "subscription_cycle" else 0)
        if reason == "manual":
            finalize_at = created + rng.randint(60, 3600)
        draft = kind == "draft" or finalize_at > now
        # discounts and tax per line
        coupon = discount["coupon"] if discount else None
        amount_left = coupon["amount_off"] if coupon and coupon["amount_off"] else 0
        li_bodies = []
        subtotal = disc_total = tax_total = taxable_total = 0
        for ln in sorted(lines, key=lambda x: -x["amount"]):
            amt = ln["amount"]
            d = 0
            if coupon and amt > 0:
                if coupon["percent_off"]:
                    d = pct(amt, int(coupon["percent_off"] * 100))
                elif amount_left:
                    d = min(amount_left, amt)
                    amount_left -= d
            taxable = amt - d
            tax = 0
            tax_amounts = []
            if self.tax_rate:
                tax = pct(taxable, int(self.tax_rate["percentage"] * 100))
                tax_amounts = [
                    {
                        "amount": tax,
                        "inclusive": False,
                        "tax_rate": self.tax_rate["id"],
                        "taxability_reason": "standard_rated",
                        "taxable_amount": taxable,
                    }
                ]
            elif self.reverse_charge:
                tax_amounts = []
            subtotal += amt
            disc_total += d
            tax_total += tax
            taxable_total += taxable
            li = {
                "id": stripe_id(rng, "il"),
                "object": "line_item",
                "amount": amt,
                "amount_excluding_tax": amt,
                "currency": cur,
                "description": ln["description"],
                "discount_amounts": [{"amount": d, "discount": discount["id"]}] if discount else [],
                "discountable": True,
                "discounts": [],
                "invoice_item": ln["invoice_item"],
                "livemode": False,
                "metadata": {},
                "period": ln["period"],
                "price": ln["price"],
                "proration": ln["proration"],
                "proration_details": {"credited_items": None},
                "quantity": ln["quantity"],
                "subscription": sub_id,
                "subscription_item": ln["subscription_item"],
                "tax_amounts": tax_amounts,
                "tax_rates": [],
                "type": ln["type"],
                "unit_amount_excluding_tax": str(ln["price"]["unit_amount"]),
            }
            for opt in ("invoice_item", "subscription_item"):  # omitted when unset
                if li[opt] is None:
                    del li[opt]
            li_bodies.append(li)
            if ln["type"] == "invoiceitem":
                self.write_invoiceitem(ln, inv_id)
        total = subtotal - disc_total + tax_total
        number = None
        if not draft:
            self.inv_seq += 1
            number = f"{self.prefix}-{self.inv_seq:04d}"
        # collection
        status = "draft" if draft else "open"
        paid_at = voided_at = uncollectible_at = None
        pi_body = None
        charges: list[dict[str, Any]] = []
        outcome = "draft" if draft else "open"
        first_failure = 0
        next_attempt = None
        if not draft and kind == "void":
            voided_at = min(now - 60, finalize_at + rng.randint(600, 5 * DAY))
            status, outcome = "void", "void"
        elif not draft and total == 0:
            status, outcome, paid_at = "paid", "paid", finalize_at
        elif not draft:
            attempts = [
                finalize_at,
                finalize_at + 3 * DAY,
                finalize_at + 8 * DAY,
                finalize_at + 15 * DAY,
            ]
            first_fails = rng.random() < 0.09
            # a card that keeps failing in the last fortnight: the company is in dunning now
            stuck = self.failing_card and finalize_at > now - 15 * DAY
            for j, t in enumerate(attempts):
                if t > now:
                    next_attempt = t
                    break
                ok = not (first_fails or stuck) if j == 0 else rng.random() < 0.55 and not stuck
                charges.append({"t": t, "ok": ok})
                if not first_failure and not ok:
                    first_failure = t
                if ok:
                    status, outcome, paid_at = "paid", "paid", t
                    break
            else:
                uncollectible_at = attempts[-1] + 3600
                if uncollectible_at <= now:
                    status, outcome = "uncollectible", "uncollectible"
                else:
                    next_attempt = None
        amount_paid = total if status == "paid" else 0
        discount_obj = dict(discount, invoice=None) if discount else None
        inv = {
            "id": inv_id,
            "object": "invoice",
            "account_country": "US",
            "account_name": "Q2C Inc.",
            "account_tax_ids": None,
            "amount_due": total,
            "amount_paid": amount_paid,
            "amount_remaining": total - amount_paid,
            "amount_shipping": 0,
            "application": None,
            "application_fee_amount": None,
            "attempt_count": len(charges),
            "attempted": bool(charges) or status == "paid",
            "auto_advance": status in ("draft", "open"),
            "automatic_tax": {"enabled": False, "status": None},
            "billing_reason": reason,
            "charge": None,
            "collection_method": "charge_automatically",
            "created": created,
            "currency": cur,
            "custom_fields": None,
            "customer": self.cus_id,
            "customer_address": self.address,
            "customer_email": self.billing_email,
            "customer_name": self.co.name,
            "customer_phone": self.co.phone,
            "customer_shipping": None,
            "customer_tax_exempt": "reverse" if self.reverse_charge else "none",
            "customer_tax_ids": [
                {"type": t["type"], "value": t["value"]} for t in self.tax_id_objs
            ],
            "default_payment_method": None,
            "default_source": None,
            "default_tax_rates": [],
            "description": None,
            "discount": discount_obj,
            "discounts": [discount["id"]] if discount else [],
            "due_date": None,
            "effective_at": None if draft else finalize_at,
            "ending_balance": None if draft else 0,
            "footer": None,
            "from_invoice": None,
            "hosted_invoice_url": None
            if draft
            else f"https://invoice.stripe.com/i/acct_q2c/test_{inv_id[3:]}",
            "invoice_pdf": None
            if draft
            else f"https://pay.stripe.com/invoice/acct_q2c/test_{inv_id[3:]}/pdf",
            "last_finalization_error": None,
            "latest_revision": None,
            "lines": so.list_of(li_bodies, f"/v1/invoices/{inv_id}/lines"),
            "livemode": False,
            "metadata": {},
            "next_payment_attempt": next_attempt,
            "number": number,
            "on_behalf_of": None,
            "paid": status == "paid",
            "paid_out_of_band": False,
            "payment_intent": None,
            "payment_settings": {
                "default_mandate": None,
                "payment_method_options": None,
                "payment_method_types": None,
            },
            "period_end": period[1],
            "period_start": period[0],
            "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0,
            "quote": None,
            "receipt_number": None,
            "rendering_options": None,
            "shipping_cost": None,
            "shipping_details": None,
            "starting_balance": 0,
            "statement_descriptor": None,
            "status": status,
            "status_transitions": {
                "finalized_at": None if draft else finalize_at,
                "marked_uncollectible_at": uncollectible_at if status == "uncollectible" else None,
                "paid_at": paid_at,
                "voided_at": voided_at,
            },
            "subscription": sub_id,
            "subscription_details": {"metadata": {}} if sub_id else None,
            "subtotal": subtotal,
            "subtotal_excluding_tax": subtotal,
            "tax": tax_total if self.tax_rate else None,
            "test_clock": None,
            "total": total,
            "total_discount_amounts": [{"amount": disc_total, "discount": discount["id"]}]
            if discount
            else [],
            "total_excluding_tax": subtotal - disc_total,
            "total_tax_amounts": [
                {
                    "amount": tax_total,
                    "inclusive": False,
                    "tax_rate": self.tax_rate["id"],
                    "taxability_reason": "standard_rated",
                    "taxable_amount": taxable_total,
                }
            ]
            if self.tax_rate
            else [],
            "transfer_data": None,
            "webhooks_delivered_at": created,
        }
        charge_rows = []
        if charges:
            pi_body, charge_rows = self.collect(inv, charges, status)
            inv["payment_intent"] = pi_body["id"]
            inv["charge"] = charge_rows[-1]["id"]
        refunds = []
        if status == "paid" and charge_rows:
            refunds = self.refunds(inv, charge_rows)  # writes the charges after refunding
        elif charge_rows:
            # failed attempts of an open or uncollectible invoice: the charges exist all the
            # same (the invoice's `charge` and the intent's `latest_charge` name the last one)
            self.write_charges(charge_rows)
        for li in li_bodies:
            w.billing({**li, "_created": created}, parent=inv_id, customer=self.cus_id)
        w.billing(inv, customer=self.cus_id, status=status)
        self.invoice_events(inv, draft, finalize_at, paid_at, voided_at, uncollectible_at, charges)
        self.last_change = max(
            self.last_change,
            paid_at or voided_at or uncollectible_at or finalize_at if not draft else created,
        )
        if not draft and status != "void":
            self.post_invoice(inv, finalize_at, charge_rows, refunds)
        return {
            "id": inv_id,
            "number": number,
            "outcome": outcome,
            "first_failure": first_failure,
            "closed_at": uncollectible_at,
        }

    def invoice_events(
        self, inv, draft, finalize_at, paid_at, voided_at, uncollectible_at, charges
    ) -> None:
        """Events of an invoice's life inside the event window, with injected breaks."""
        created = inv["created"]
        last = max(
            created,
            finalize_at,
            paid_at or 0,
            voided_at or 0,
            uncollectible_at or 0,
            *(c["t"] for c in charges),
        )
        if last < self.ctx.ev_start:  # nothing of this invoice happened inside the window
            return
        snap_draft = {
            **inv,
            "status": "draft",
            "paid": False,
            "amount_paid": 0,
            "amount_remaining": inv["total"],
            "number": None,
            "status_transitions": {
                "finalized_at": None,
                "marked_uncollectible_at": None,
                "paid_at": None,
                "voided_at": None,
            },
        }
        self.event("invoice.created", snap_draft, created)
        if draft:
            return
        snap_open = {
            **inv,
            "status": "open",
            "paid": False,
            "amount_paid": 0,
            "amount_remaining": inv["total"],
            "status_transitions": {
                **inv["status_transitions"],
                "paid_at": None,
                "voided_at": None,
                "marked_uncollectible_at": None,
            },
        }
        fin_evt = self.event("invoice.finalized", snap_open, finalize_at)
        for c in charges:
            if not c["ok"]:
                self.event("invoice.payment_failed", snap_open, c["t"] + 2)
        if paid_at:
            rng = self.rng
            if (
                fin_evt
                and paid_at - finalize_at < 60
                and rng.random() < 0.04
                and paid_at >= self.ctx.ev_start
            ):
                # delivered before the finalization it follows: out of order
                body = so.event(rng, "invoice.paid", inv, finalize_at - rng.randint(1, 30))
                self.ctx.w.billing(body, type_="invoice.paid", delivered=1)
                self.ctx.w.discrepancy(
                    "event_out_of_order",
                    "billing",
                    {"event": body["id"], "after": fin_evt},
                    {
                        "type": "invoice.paid",
                        "object_id": inv["id"],
                        "created": body["created"],
                        "precedes_created": finalize_at,
                    },
                )
            else:
                self.event("invoice.paid", inv, paid_at + 1)
        if voided_at:
            self.event("invoice.voided", inv, voided_at)
        if uncollectible_at and inv["status"] == "uncollectible":
            self.event("invoice.marked_uncollectible", inv, uncollectible_at)

    def collect(
        self,
        inv: dict[str, Any],
        attempts: list[dict[str, Any]],
        status: str,
        existing_pi: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Payment intent and one charge per attempt; balance transaction for the success.

        With `existing_pi` (a dunning retry) the invoice's intent is updated, not created.
        """
        rng, w = self.rng, self.ctx.w
        cur, amount = self.currency, inv["total"]
        pi_id = existing_pi["id"] if existing_pi else stripe_id(rng, "pi")
        rows = []
        last_error = None
        for a in attempts:
            ch_id = stripe_id(rng, "ch")
            decline = None if a["ok"] else rng.choice(so.DECLINES)
            txn = None
            fee = 0
            if a["ok"]:
                bps, fixed = CARD_FEES[cur]
                fee = pct(amount, bps) + fixed
                txn = self.bt(
                    amount=amount,
                    fee=fee,
                    created=a["t"],
                    source=ch_id,
                    type_="charge",
                    category="charge",
                    description=f"Payment for Invoice {inv['number']}",
                )
                self.last_payment = a["t"]
            ch = {
                "id": ch_id,
                "object": "charge",
                "amount": amount,
                "amount_captured": amount if a["ok"] else 0,
                "amount_refunded": 0,
                "application": None,
                "application_fee": None,
                "application_fee_amount": None,
                "balance_transaction": txn,
                "billing_details": {
                    "address": self.address,
                    "email": self.billing_email,
                    "name": self.co.name,
                    "phone": None,
                },
                "calculated_statement_descriptor": "Q2C SOFTWARE",
                "captured": a["ok"],
                "created": a["t"],
                "currency": cur,
                "customer": self.cus_id,
                "description": "Subscription update"
                if inv["subscription"]
                else "Payment for Invoice",
                "disputed": False,
                "failure_balance_transaction": None,
                "failure_code": decline[0] if decline else None,
                "failure_message": decline[2] if decline else None,
                "fraud_details": {},
                "invoice": inv["id"],
                "livemode": False,
                "metadata": {},
                "on_behalf_of": None,
                "outcome": so.outcome(rng, decline),
                "paid": a["ok"],
                "payment_intent": pi_id,
                "payment_method": self.pm_id,
                "payment_method_details": so.card_details(self.card),
                "radar_options": {},
                "receipt_email": None,
                "receipt_number": None,
                "receipt_url": f"https://pay.stripe.com/receipts/invoices/{ch_id[3:]}",
                "refunded": False,
                "review": None,
                "shipping": None,
                "source_transfer": None,
                "statement_descriptor": None,
                "statement_descriptor_suffix": None,
                "status": "succeeded" if a["ok"] else "failed",
                "transfer_data": None,
                "transfer_group": None,
                "_fee": fee,
            }
            rows.append(ch)
            if decline:
                last_error = {
                    "charge": ch_id,
                    "code": decline[0],
                    "decline_code": decline[1],
                    "doc_url": f"https://stripe.com/docs/error-codes/{decline[0]}",
                    "message": decline[2],
                    "type": "card_error",
                }
        succeeded = attempts[-1]["ok"]
        pi = {
            "id": pi_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_details": {"tip": {}},
            "amount_received": amount if succeeded else 0,
            "application": None,
            "application_fee_amount": None,
            "automatic_payment_methods": None,
            "canceled_at": inv["status_transitions"]["marked_uncollectible_at"]
            if status == "uncollectible"
            else None,
            "cancellation_reason": "automatic" if status == "uncollectible" else None,
            "capture_method": "automatic",
            "client_secret": existing_pi["client_secret"]
            if existing_pi
            else f"{pi_id}_secret_{''.join(rng.choices(B62, k=25))}",
            "confirmation_method": "automatic",
            "created": existing_pi["created"] if existing_pi else attempts[0]["t"],
            "currency": cur,
            "customer": self.cus_id,
            "description": rows[0]["description"],
            "invoice": inv["id"],
            "last_payment_error": None if succeeded else last_error,
            "latest_charge": rows[-1]["id"],
            "livemode": False,
            "metadata": {},
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": self.pm_id,
            "payment_method_options": {
                "card": {
                    "installments": None,
                    "mandate_options": None,
                    "network": None,
                    "request_three_d_secure": "automatic",
                }
            },
            "payment_method_types": ["card"],
            "processing": None,
            "receipt_email": None,
            "review": None,
            "setup_future_usage": "off_session",
            "shipping": None,
            "source": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "succeeded"
            if succeeded
            else "canceled"
            if status == "uncollectible"
            else "requires_payment_method",
            "transfer_data": None,
            "transfer_group": None,
        }
        w.billing(
            pi,
            customer=self.cus_id,
            status=pi["status"],
            change="updated" if existing_pi else "created",
        )
        if not existing_pi:
            self.event(
                "payment_intent.created",
                {**pi, "status": "requires_payment_method", "latest_charge": None},
                pi["created"],
            )
        for ch in rows:
            if ch["status"] == "failed":
                self.event("payment_intent.payment_failed", pi, ch["created"] + 1)
            else:
                self.event("payment_intent.succeeded", pi, ch["created"] + 1)
        return pi, rows

    def refunds(
        self, inv: dict[str, Any], charge_rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Refunds (with credit notes), disputes and partner transfers of the paid charge;
        then writes the charges."""
        ctx, rng, w = self.ctx, self.rng, self.ctx.w
        now, cur = ctx.now, self.currency
        ch = charge_rows[-1]
        out = []
        r = rng.random()
        if r < 0.03:
            t = ch["created"] + rng.randint(DAY, 25 * DAY)
            if t < now:
                full = rng.random() < 0.6
                amt = ch["amount"] if full else max(1, ch["amount"] * rng.randint(10, 60) // 100)
                re_id = stripe_id(rng, "re")
                txn = self.bt(
                    amount=-amt,
                    fee=0,
                    created=t,
                    source=re_id,
                    type_="refund",
                    category="refund",
                    description="REFUND FOR CHARGE",
                    avail=t,
                )
                refund = so.refund(re_id, amt, txn, ch["id"], t, cur, ch["payment_intent"])
                w.billing(refund, customer=None, status="succeeded")
                ch["amount_refunded"] = amt
                ch["refunded"] = full
                tax = inv["tax"] or 0
                tax_part = amt * tax // inv["total"] if inv["total"] else 0
                cn_id = stripe_id(rng, "cn")
                cnli = {
                    "id": stripe_id(rng, "cnli"),
                    "object": "credit_note_line_item",
                    "amount": amt - tax_part,
                    "amount_excluding_tax": amt - tax_part,
                    "description": "Refund",
                    "discount_amount": 0,
                    "discount_amounts": [],
                    "invoice_line_item": inv["lines"]["data"][0]["id"],
                    "livemode": False,
                    "quantity": 1,
                    "tax_amounts": [
                        {
                            "amount": tax_part,
                            "inclusive": False,
                            "tax_rate": self.tax_rate["id"],
                            "taxability_reason": "standard_rated",
                            "taxable_amount": amt - tax_part,
                        }
                    ]
                    if self.tax_rate
                    else [],
                    "tax_rates": [],
                    "type": "invoice_line_item",
                    "unit_amount": None,
                    "unit_amount_decimal": None,
                    "unit_amount_excluding_tax": None,
                }
                cn = {
                    "id": cn_id,
                    "object": "credit_note",
                    "amount": amt,
                    "amount_shipping": 0,
                    "created": t,
                    "currency": cur,
                    "customer": self.cus_id,
                    "customer_balance_transaction": None,
                    "discount_amount": 0,
                    "discount_amounts": [],
                    "effective_at": t,
                    "invoice": inv["id"],
                    "lines": so.list_of([cnli], f"/v1/credit_notes/{cn_id}/lines"),
                    "livemode": False,
                    "memo": None,
                    "metadata": {},
                    "number": f"{inv['number']}-CN-01",
                    "out_of_band_amount": None,
                    "pdf": f"https://pay.stripe.com/credit_notes/acct_q2c/test_{cn_id[3:]}/pdf",
                    "reason": "product_unsatisfactory",
                    "refund": re_id,
                    "shipping_cost": None,
                    "status": "issued",
                    "subtotal": amt - tax_part,
                    "subtotal_excluding_tax": amt - tax_part,
                    "tax_amounts": cnli["tax_amounts"],
                    "total": amt,
                    "total_excluding_tax": amt - tax_part,
                    "type": "post_payment",
                    "voided_at": None,
                }
                w.billing(cn, customer=self.cus_id, status="issued")
                inv["post_payment_credit_notes_amount"] = amt
                self.event("charge.refunded", {k: v for k, v in ch.items() if k != "_fee"}, t)
                self.event("refund.created", refund, t)
                self.event("credit_note.created", cn, t)
                out.append({"refund": refund, "credit_note": cn, "tax": tax_part})
                self.last_change = max(self.last_change, t)
        elif r < 0.035:
            t = ch["created"] + rng.randint(5 * DAY, 40 * DAY)
            if t < now:
                dp_id = stripe_id(rng, "dp")
                fee = DISPUTE_FEE[cur]
                status = (
                    rng.choice(("won", "lost", "needs_response"))
                    if t > now - 30 * DAY
                    else rng.choice(("won", "lost"))
                )
                bts = []
                txn = so.balance_transaction(
                    rng,
                    amount=-ch["amount"],
                    fee=fee,
                    currency=cur,
                    created=t,
                    source=dp_id,
                    type_="adjustment",
                    category="dispute",
                    description=f"Chargeback withdrawal for {ch['id']}",
                    available_on=t,
                    now=now,
                )
                bts.append(txn)
                if status == "won":
                    t2 = min(now - 60, t + rng.randint(10 * DAY, 30 * DAY))
                    bts.append(
                        so.balance_transaction(
                            rng,
                            amount=ch["amount"],
                            fee=-fee,
                            currency=cur,
                            created=t2,
                            source=dp_id,
                            type_="adjustment",
                            category="dispute_reversal",
                            description=f"Chargeback reversal for {ch['id']}",
                            available_on=t2,
                            now=now,
                        )
                    )
                for b in bts:
                    payout = ctx.settle.add(cur, b["available_on"], b["net"], b["fee"], b["id"])
                    w.billing(b, payout=payout, status=b["status"], type_=b["type"])
                dp = {
                    "id": dp_id,
                    "object": "dispute",
                    "amount": ch["amount"],
                    "balance_transactions": bts,
                    "charge": ch["id"],
                    "created": t,
                    "currency": cur,
                    "evidence": {
                        "customer_email_address": None,
                        "customer_name": None,
                        "product_description": None,
                        "uncategorized_text": None,
                    },
                    "evidence_details": {
                        "due_by": t + 21 * DAY,
                        "has_evidence": status != "needs_response",
                        "past_due": False,
                        "submission_count": 0 if status == "needs_response" else 1,
                    },
                    "is_charge_refundable": False,
                    "livemode": False,
                    "metadata": {},
                    "payment_intent": ch["payment_intent"],
                    "reason": rng.choice(
                        ("fraudulent", "product_not_received", "subscription_canceled")
                    ),
                    "status": status,
                }
                w.billing(dp, status=status)
                ch["disputed"] = True
                self.event("charge.dispute.created", dp, t)
        # partner revenue share
        if self.partner:
            t = ch["created"] + 120
            if t <= now:
                amt = pct(ch["amount"] - (inv["tax"] or 0), PARTNER_SHARE_BPS)
                tr_id = stripe_id(rng, "tr")
                txn = self.bt(
                    amount=-amt,
                    fee=0,
                    created=t,
                    source=tr_id,
                    type_="transfer",
                    category="transfer",
                    description="Partner revenue share",
                    avail=so.available_on(ch["created"]),
                )
                tr = {
                    "id": tr_id,
                    "object": "transfer",
                    "amount": amt,
                    "amount_reversed": 0,
                    "balance_transaction": txn,
                    "created": t,
                    "currency": cur,
                    "description": "Partner revenue share",
                    "destination": self.partner,
                    "destination_payment": stripe_id(rng, "py"),
                    "livemode": False,
                    "metadata": {"invoice": inv["id"]},
                    "reversals": so.list_of([], f"/v1/transfers/{tr_id}/reversals"),
                    "reversed": False,
                    "source_transaction": ch["id"],
                    "source_type": "card",
                    "transfer_group": f"group_{inv['id']}",
                }
                w.billing(tr, customer=self.cus_id)
                ctx.settle.partner(self.partner, cur, t, amt)
                self.event("transfer.created", tr, t)
        self.write_charges(charge_rows)
        return out

    def hand_keying(self, r: float, total: int) -> str | None:
        """Whether finance keys this invoice by hand (`only`), or again by hand (`duplicate`).

        Only invoices the integration would post cleanly (`r` past every injected ERP break)
        and that bill something.
        """
        prof = self.ctx.profile
        if prof.is_default or r < 0.065 or total <= 0:
            return None
        m = self.mrng.random()
        if m < prof.hand_keyed_share:
            return "only"
        if m < prof.hand_keyed_share + prof.hand_keyed_duplicate_share:
            return "duplicate"
        return None

    def payment_keyed_by_hand(self, hand: str | None, charge: str) -> tuple[str, str | None] | None:
        """(document number, memo) when finance keyed the payment of a hand-keyed invoice by
        hand as well (half of them: no external id, dated the charge's day), else None."""
        if hand != "only" or self.mrng.random() >= 0.5:
            return None
        number = f"PYMT{self.ctx.ledger.next_txn}"
        return number, self.mrng.choice((f"Stripe {charge}", "Card receipt", None))

    def post_by_hand(
        self,
        inv: dict[str, Any],
        finalize_at: int,
        status: str,
        lines: list[tuple[str, int, str]],
        recorded: int,
        *,
        duplicate_of: int | None,
    ) -> int:
        """Post `inv` as finance keys it by hand: no external id, a NetSuite document number or
        the billing invoice number, the invoice id in the memo or not.

        A second posting of an invoice already posted (`duplicate_of`, dated the invoice's day)
        is an `erp_duplicate_posting`; an invoice's only posting (dated up to two days later,
        in the same month) is mess to match by content. A few
        hand-keyed income lines hit an account the contract does not map (a data problem).
        """
        ctx, mrng, w = self.ctx, self.mrng, self.ctx.w
        led = ctx.ledger
        total = inv["total"]
        tid_next = led.next_txn
        tranid = inv["number"] if mrng.random() < 0.5 else f"INV{tid_next}"
        memo = mrng.choice(
            (
                f"Stripe {inv['id']}",
                f"Manual entry {inv['number']}",
                None,
                f"keyed by AR {tid_next % 97}",
            )
        )
        keyed_on = finalize_at
        if duplicate_of is None:  # keyed when finance got to it, in the invoice's month
            later = finalize_at + mrng.randint(0, 2) * DAY
            if month_index(later) == month_index(finalize_at) and later <= ctx.now - DAY:
                keyed_on = later
        misposted = duplicate_of is None and mrng.random() < ctx.profile.misposted_share
        if misposted:
            lines = [
                ("misc_income", amt, text) if k in ("revenue", "services") else (k, amt, text)
                for k, amt, text in lines
            ]
        tid = led.post(
            type_="CustInvc",
            tranid=tranid,
            when=keyed_on,
            entity=self.erp_id,
            currency=CURRENCY_IDS[self.currency],
            total=total,
            externalid=None,
            memo=memo,
            status=status,
            lines=lines,
            recorded=recorded + mrng.randint(DAY, 5 * DAY),
        )
        ids = {"invoice": inv["id"], "customer": self.cus_id, "erp_transaction": tid}
        detail = {"amount": total, "currency": self.currency, "tranid": tranid, "memo": memo}
        if duplicate_of is not None:
            w.discrepancy(
                "erp_duplicate_posting",
                "erp",
                {**ids, "erp_transaction": duplicate_of, "erp_duplicate": tid},
                {**detail, "postings": 2, "hand_keyed": True},
            )
        else:
            w.mess("hand_keyed_posting", ids, detail)
        if misposted:
            number = ctx.profile.chart["misc_income"][1]
            w.dq_problem(
                "unmapped_gl_account",
                "erp",
                "transactionline",
                f"{tid}:1",
                "account",
                number,
                {"invoice": inv["id"], "expected_role": "revenue", "acctnumber": number},
            )
        return tid

    def write_charges(self, charge_rows: list[dict[str, Any]]) -> None:
        """Write an invoice's charges (final state, without the private `_fee`) and their
        `charge.succeeded` / `charge.failed` events."""
        w = self.ctx.w
        for c in charge_rows:
            body = {k: v for k, v in c.items() if k != "_fee"}
            w.billing(body, customer=self.cus_id, status=body["status"])
            self.event("charge.succeeded" if c["paid"] else "charge.failed", body, body["created"])

    def post_invoice(
        self,
        inv: dict[str, Any],
        finalize_at: int,
        charge_rows: list[dict[str, Any]],
        refunds: list[dict[str, Any]],
    ) -> None:
        """Post the invoice, its payment, credit note and refund to the ERP (with breaks)."""
        ctx, rng, w = self.ctx, self.rng, self.ctx.w
        led = ctx.ledger
        cur, cid = self.currency, CURRENCY_IDS[self.currency]
        total, tax = inv["total"], inv["tax"] or 0
        income = "revenue" if inv["subscription"] else "services"
        paid_charge = charge_rows[-1] if charge_rows and charge_rows[-1]["paid"] else None
        recorded = finalize_at + rng.randint(600, DAY)
        r = rng.random()
        base = {"invoice": inv["id"], "customer": self.cus_id}
        if r < 0.015:
            omitted = {
                "charges": [paid_charge["id"]] if paid_charge else [],
                "refunds": [x["refund"]["id"] for x in refunds],
                "credit_notes": [x["credit_note"]["id"] for x in refunds],
            }
            w.discrepancy(
                "erp_invoice_missing",
                "erp",
                base,
                {"amount": total, "currency": cur, "omitted": omitted},
            )
            if paid_charge:
                # its payment is missing too: a second entry for finance to make
                w.discrepancy(
                    "erp_payment_unapplied",
                    "erp",
                    {**base, "charge": paid_charge["id"], "erp_payment": None},
                    {"amount": paid_charge["amount_captured"], "currency": cur},
                )
            return
        erp_total, erp_cur, shift = total, cid, 0
        if r < 0.03:
            delta = rng.choice((-1, 1)) * rng.randint(1, max(1, total // 10 or 1))
            erp_total = total + delta
        elif r < 0.04:
            erp_cur = rng.choice([c for c in CURRENCY_IDS.values() if c != cid])
        elif r < 0.055:
            shift = 1
        lines = [
            ("ar", erp_total, "Accounts receivable"),
            (income, -(erp_total - tax), inv["lines"]["data"][0]["description"]),
        ]
        if tax:
            lines.append(("tax", -tax, "Tax"))
        status = "Paid In Full" if paid_charge else "Open"
        hand = self.hand_keying(r, total)
        if hand == "only":
            tid = self.post_by_hand(inv, finalize_at, status, lines, recorded, duplicate_of=None)
        else:
            tid = led.post(
                type_="CustInvc",
                tranid=inv["number"],
                when=finalize_at,
                entity=self.erp_id,
                currency=erp_cur,
                total=erp_total,
                externalid=inv["id"],
                memo=f"Stripe invoice {inv['number']}",
                status=status,
                lines=lines,
                period_shift=shift,
                recorded=recorded,
            )
        if hand == "duplicate":
            self.post_by_hand(inv, finalize_at, "Open", lines, recorded, duplicate_of=tid)
        ids = {**base, "erp_transaction": tid}
        if erp_total != total:
            w.discrepancy(
                "erp_amount_mismatch",
                "erp",
                ids,
                {"billing_amount": total, "erp_amount": erp_total, "currency": cur},
            )
        elif erp_cur != cid:
            sym = {v: k for k, v in CURRENCY_IDS.items()}
            w.discrepancy(
                "erp_currency_mismatch",
                "erp",
                ids,
                {"billing_currency": cur, "erp_currency": sym[erp_cur], "amount": total},
            )
        elif shift:
            w.discrepancy(
                "erp_wrong_period",
                "erp",
                ids,
                {
                    "expected_period": led.periods[month_index(finalize_at)],
                    "erp_period": led.periods[month_index(finalize_at) + 1],
                    "trandate": finalize_at,
                    "amount": total,
                    "currency": cur,
                },
            )
        elif r < 0.065:
            dup = led.post(
                type_="CustInvc",
                tranid=inv["number"],
                when=finalize_at,
                entity=self.erp_id,
                currency=cid,
                total=total,
                externalid=inv["id"],
                memo=f"Stripe invoice {inv['number']}",
                status="Open",
                lines=lines,
                recorded=recorded + rng.randint(60, DAY),
            )
            w.discrepancy(
                "erp_duplicate_posting",
                "erp",
                {**base, "erp_transaction": tid, "erp_duplicate": dup},
                {"amount": total, "currency": cur, "postings": 2},
            )
        if paid_charge:
            keyed = self.payment_keyed_by_hand(hand, paid_charge["id"])
            pid = led.post(
                type_="CustPymt",
                tranid=keyed[0] if keyed else f"PYMT-{paid_charge['id'][-8:]}",
                when=paid_charge["created"],
                entity=self.erp_id,
                currency=cid,
                total=total,
                externalid=None if keyed else paid_charge["id"],
                memo=keyed[1] if keyed else f"Stripe payment for {inv['number']}",
                status="Deposited",
                lines=[
                    ("clearing", total, "Stripe clearing"),
                    ("ar", -total, "Accounts receivable"),
                ],
                recorded=paid_charge["created"] + rng.randint(600, DAY),
            )
            if keyed:
                w.mess(
                    "hand_keyed_payment",
                    {"charge": paid_charge["id"], "erp_payment": pid, "invoice": inv["id"]},
                    {"amount": total, "currency": cur, "tranid": keyed[0], "memo": keyed[1]},
                )
            if rng.random() < 0.02:
                w.discrepancy(
                    "erp_payment_unapplied",
                    "erp",
                    {**base, "charge": paid_charge["id"], "erp_payment": pid, "erp_invoice": tid},
                    {"amount": total, "currency": cur},
                )
            else:
                led.link(tid, pid, "Payment", total)
        for x in refunds:
            cn, re = x["credit_note"], x["refund"]
            amt = cn["total"]
            cn_lines = [(income, amt - x["tax"], "Credit"), ("ar", -amt, "Accounts receivable")]
            if x["tax"]:
                cn_lines.append(("tax", x["tax"], "Tax"))
            led.post(
                type_="CustCred",
                tranid=cn["number"],
                when=cn["created"],
                entity=self.erp_id,
                currency=cid,
                total=amt,
                externalid=cn["id"],
                memo=f"Credit note for {inv['number']}",
                status="Fully Applied",
                lines=cn_lines,
                recorded=cn["created"] + rng.randint(600, DAY),
            )
            if rng.random() < 0.08:
                w.discrepancy(
                    "erp_refund_missing",
                    "erp",
                    {**base, "refund": re["id"], "charge": re["charge"]},
                    {"amount": re["amount"], "currency": cur},
                )
                continue
            led.post(
                type_="CustRfnd",
                tranid=f"RFND-{re['id'][-8:]}",
                when=re["created"],
                entity=self.erp_id,
                currency=cid,
                total=re["amount"],
                externalid=re["id"],
                memo=f"Refund for {inv['number']}",
                status="Refunded",
                lines=[
                    ("ar", re["amount"], "Accounts receivable"),
                    ("clearing", -re["amount"], "Stripe clearing"),
                ],
                recorded=re["created"] + rng.randint(600, DAY),
            )
