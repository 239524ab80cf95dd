"""`advance`: move a world's clock forward day by day, adding that day's activity.

Each advanced day (numbered from 1 across calls, so that `advance(d, 2)` equals two calls of
`advance(d, 1)`) is drawn from its own seeded stream and writes:
- new deals: companies won that day (CRM account, contacts, Closed Won opportunity, customer,
  subscription, first invoice, payment, ERP postings), through the same simulation as history;
- renewals: subscriptions whose period ends that day are invoiced and charged (trials convert,
  `cancel_at_period_end` subscriptions end); dunning retries of past-due invoices (paid, or
  uncollectible after the fourth failure, the subscription then `unpaid`);
- refunds of recent charges (with credit notes and ERP postings);
- the day's automatic payouts, settling every balance transaction due (pending ones become
  available), with ERP journals; in-transit payouts arrive;
- people's CRM edits (phones, websites, titles), new and closed support cases, a deleted contact,
  and one late-arriving change: an Opportunity edit whose `SystemModstamp` is older than rows
  already present;
- the CRM's copy of each changed billing status: the outbound real-time sync that generation
  already assumes (the integration user writes `Billing_Status__c` `CRM_SYNC_LAG` seconds
  after the billing change, see `Day.crm_status_sync`);
- an event for each billing change; every row written is listed in `truth.changes`;
  `truth.counts` and `meta.now` move on.

The truth stays what the world contains (`Truth` below): a dunning case whose invoice gets
paid is no longer a `case_dunning_without_priority`; a synced account is no longer a
`crm_billing_status_stale`; a status change whose sync falls after the day's end is one
until the next day applies it (the CRM really has not seen it at that clock, as a real CRM
would not within the sync's lag).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sandbox.world import stripe_objects as so
from sandbox.world.catalog import build_catalog
from sandbox.world.company import Company, Ctx, Users, add_months
from sandbox.world.config import DAY, EVENT_DAYS, HISTORY_DAYS
from sandbox.world.crm import SalesforceIds, sf_datetime
from sandbox.world.generate import write_counts
from sandbox.world.ids import stripe_id
from sandbox.world.ledger import CURRENCY_IDS, Ledger, erp_ts
from sandbox.world.people import People
from sandbox.world.settlement import PAYOUT_HOUR, Settlement, payout_day
from sandbox.world.store import WorldWriter, connect, dumps

#: seconds from a billing change to the CRM's copy of it: the lag generation gives the
#: integration user's last sync of an account (company.py, `last_change + 600`)
CRM_SYNC_LAG = 600
#: an account's billing status is the first of these among its customer's subscriptions
#: ('none' without one), the rule of the contract (policy/ownership.yml
#: `billing_status_precedence`) that the CRM field mirrors
BILLING_STATUS_PRECEDENCE = ("past_due", "unpaid", "active", "trialing", "canceled")


@dataclass(frozen=True)
class AdvanceSummary:
    """What `advance` added.

    Attributes:
        now: the world's clock after advancing (epoch seconds).
        days: how many days were added.
        changes: counts of `truth.changes` rows added, by (system, object, change).
        discrepancies: discrepancies injected on these days, by kind.
    """

    now: int
    days: int
    changes: dict[tuple[str, str, str], int]
    discrepancies: dict[str, int]


def advance(world_dir: Path, days: int) -> AdvanceSummary:
    """Add the activity of the next `days` days to the world in `world_dir`.

    Args:
        world_dir: a directory written by `generate`.
        days: how many days to add (at least 1).

    Returns:
        The new clock and the changes made.

    Raises:
        ValueError: `days` < 1, or a world of another profile than `default`.
        FileNotFoundError: no world in `world_dir`.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    world_dir = Path(world_dir)
    if not (world_dir / "truth.sqlite").exists():
        raise FileNotFoundError(f"no world in {world_dir} (truth.sqlite missing)")
    profile = _read_state(world_dir)[0].get("profile", "default")
    if profile != "default":
        # the day's activity reads and edits records by the default org's field names and
        # values; the other profiles are generated, not advanced (yet)
        raise ValueError(f"advance works on default-profile worlds only; this one is {profile!r}")
    changes: Counter[tuple[str, str, str]] = Counter()
    kinds: Counter[str] = Counter()
    now = 0
    for _ in range(days):
        now, day_changes, day_kinds = _advance_one_day(world_dir)
        changes.update(day_changes)
        kinds.update(day_kinds)
    return AdvanceSummary(now=now, days=days, changes=dict(changes), discrepancies=dict(kinds))


def _read_state(world_dir: Path) -> tuple[dict[str, str], dict[str, Any]]:
    con = connect(world_dir / "truth.sqlite")
    try:
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
    finally:
        con.close()
    return meta, json.loads(meta["state"])


def _advance_one_day(world_dir: Path) -> tuple[int, Counter, Counter]:
    meta, state = _read_state(world_dir)
    seed = int(meta["seed"])
    day_no = state["advanced_days"] + 1
    day_start = int(meta["now"])
    now = day_start + DAY
    w = WorldWriter(world_dir, create=False, day=day_no)
    periods = {int(k): v for k, v in state["periods"].items()}
    ledger = Ledger(w, periods, state["erp_next_txn"], state["erp_next_customer"], now=now)
    sf = SalesforceIds(state["sf_next"])
    u = state["users"]
    settle = Settlement(seed, now, state["connected"])
    ctx = Ctx(
        seed=seed,
        scale=meta["scale"],
        now=now,
        start=now - HISTORY_DAYS * DAY,
        w=w,
        cat=build_catalog(seed, int(meta["now"]) - (day_no - 1) * DAY - HISTORY_DAYS * DAY),
        people=People(),
        sf=sf,
        ledger=ledger,
        users=Users(u["integration"], u["reps"], u["agents"]),
        partners=state["partners"],
        settle=settle,
        ev_start=now - EVENT_DAYS * DAY,
        flags={"dunning_case": True},  # the one guaranteed at generation is enough
    )
    rng = random.Random(f"{seed}:day:{day_no}")
    day = Day(ctx, rng, day_start, day_no)
    # new deals
    n_new = max(1, round(state["companies"] * 0.001 * rng.uniform(0.5, 1.5)))
    for j in range(n_new):
        Company(ctx, state["companies"] + j, window=(day_start, now - 3 * 3600)).run()
    state["companies"] += n_new
    day.renewals()
    day.retries()
    day.refunds()
    day.payouts()
    day.crm_activity()
    pending = day.crm_status_sync(state.get("crm_sync_pending", {}))
    state.update(
        advanced_days=day_no,
        crm_sync_pending=pending,
        sf_next=sf.next,
        erp_next_txn=ledger.next_txn,
        erp_next_customer=ledger.next_customer,
    )
    w.set_meta({"now": str(now)})
    w.cons["truth"].execute(
        "INSERT OR REPLACE INTO meta VALUES ('state', ?)", (json.dumps(state, sort_keys=True),)
    )
    w.flush()
    _update_counts(w, now)
    kinds = Counter(
        dict(
            w.cons["truth"].execute(
                "SELECT kind, count(*) FROM discrepancies WHERE day=? GROUP BY kind", (day_no,)
            )
        )
    )
    changes = Counter(w.changes)
    w.close(indexes=False)
    return now, changes, kinds


def _update_counts(w: WorldWriter, now: int) -> None:
    """Add this day's created rows (and deletions) to the counts already recorded."""
    con = w.cons["truth"]
    old = {(s, o): n for s, o, n in con.execute("SELECT system, object, n FROM counts")}
    for obj, n in w.billing_counts.items():
        w.billing_counts[obj] = old.get(("billing", obj), 0) + n
    for obj, n in w.sf_counts.items():
        w.sf_counts[obj] = old.get(("salesforce", obj), 0) + n
    for obj, n in w.erp_counts.items():
        w.erp_counts[obj] = old.get(("erp", obj), 0) + n
    for (s, o), n in old.items():
        counter = {"billing": w.billing_counts, "salesforce": w.sf_counts, "erp": w.erp_counts}[s]
        if o not in counter:
            counter[o] = n
    write_counts(w, now)


class Day:
    """The activity of one advanced day on existing objects."""

    def __init__(self, ctx: Ctx, rng: random.Random, day_start: int, day_no: int) -> None:
        self.ctx = ctx
        self.rng = rng
        self.start = day_start
        self.now = ctx.now
        self.day_no = day_no
        self.b = ctx.w.cons["billing"]
        self.tax_rates = {r["id"]: r for r in ctx.cat.tax_rates.values()}
        self.truth = Truth(ctx.w)
        # customer id -> when its subscription status last changed today (for the CRM sync)
        self.status_changed: dict[str, int] = {}

    def t(self) -> int:
        """A random second of the day (before its last hour, so follow-ups fit)."""
        return self.rng.randint(self.start + 60, self.now - 3600)

    def body(self, oid: str) -> dict[str, Any]:
        """The stored body of billing object `oid`."""
        return json.loads(
            self.b.execute("SELECT body FROM objects WHERE id=?", (oid,)).fetchone()[0]
        )

    def event(
        self, type_: str, obj: dict[str, Any], created: int, previous: dict[str, Any] | None = None
    ) -> None:
        """Write an event of this day."""
        body = so.event(self.rng, type_, obj, created, previous)
        self.ctx.w.billing(body, type_=type_, delivered=1)

    # ------------------------------------------------------------------ billing
    def payer(self, cus: dict[str, Any], sub: dict[str, Any] | None) -> Company:
        """A `Company` rebuilt from a stored customer, able to bill and collect."""
        ctx = self.ctx
        c = Company.__new__(Company)
        c.ctx, c.rng = ctx, random.Random(f"{ctx.seed}:day:{self.day_no}:{cus['id']}")
        c.currency, c.cus_id = cus["currency"], cus["id"]
        c.co = SimpleNamespace(name=cus["name"], phone=cus["phone"])
        c.address, c.billing_email = cus["address"], cus["email"]
        c.tax_id_objs = cus["tax_ids"]["data"]
        c.reverse_charge = cus["tax_exempt"] == "reverse"
        c.prefix, c.inv_seq = cus["invoice_prefix"], cus["next_invoice_sequence"] - 1
        c.pm_id = cus["invoice_settings"]["default_payment_method"]
        c.window = None
        c.failing_card = False
        c.link_break = None
        c.last_payment = None
        c.last_change = 0
        c.tax_rate = None
        row = self.b.execute(
            # without the hint SQLite walks the (object, created) index to avoid a sort: at
            # scale L that is a scan of a million rows per customer
            "SELECT body FROM objects INDEXED BY objects_customer"
            " WHERE object='invoice' AND customer=? ORDER BY created DESC LIMIT 1",
            (cus["id"],),
        ).fetchone()
        if row:
            taxes = json.loads(row[0])["total_tax_amounts"]
            if taxes:
                c.tax_rate = self.tax_rates[taxes[0]["tax_rate"]]
        ch = self.b.execute(
            # without the hint SQLite walks the (object, created) index to avoid a sort: at
            # scale L that is a scan of a million rows per customer
            "SELECT body FROM objects INDEXED BY objects_customer"
            " WHERE object='charge' AND customer=? ORDER BY created DESC LIMIT 1",
            (cus["id"],),
        ).fetchone()
        card = json.loads(ch[0])["payment_method_details"]["card"] if ch else None
        c.card = (
            {
                "brand": card["brand"],
                "last4": card["last4"],
                "exp_month": card["exp_month"],
                "exp_year": card["exp_year"],
                "country": card["country"],
                "fingerprint": card["fingerprint"],
            }
            if card
            else {
                "brand": "visa",
                "last4": "4242",
                "exp_month": 12,
                "exp_year": 2030,
                "country": cus["address"]["country"],
                "fingerprint": "q2cFallbackCard0",
            }
        )
        tr = self.b.execute(
            "SELECT body FROM objects INDEXED BY objects_customer"
            " WHERE object='transfer' AND customer=? LIMIT 1",
            (cus["id"],),
        ).fetchone()
        c.partner = json.loads(tr[0])["destination"] if tr else None
        c.erp_id = (
            ctx.ledger.w.cons["erp"]
            .execute("SELECT id FROM customer WHERE externalid=?", (cus["id"],))
            .fetchone()[0]
        )
        if sub:
            item = sub["items"]["data"][0]
            c.sub_id, c.si_id, c.price = sub["id"], item["id"], item["price"]
        return c

    def save_customer(self, c: Company, cus: dict[str, Any], delinquent: bool) -> None:
        """Rewrite the customer if its invoice sequence or delinquency changed."""
        new = {**cus, "next_invoice_sequence": c.inv_seq + 1, "delinquent": delinquent}
        if new != cus:
            self.ctx.w.billing(new, customer=cus["id"], change="updated")
            previous = {
                k: cus[k] for k in ("next_invoice_sequence", "delinquent") if cus[k] != new[k]
            }
            self.event("customer.updated", new, self.t(), previous)

    def renewals(self) -> None:
        """Invoice the subscriptions whose period (or trial) ends today."""
        rows = self.b.execute(
            "SELECT body FROM objects WHERE object='subscription' AND status IN "
            "('active','trialing')"
        ).fetchall()
        for (text,) in rows:
            sub = json.loads(text)
            end = sub["current_period_end"]
            if not self.start < end <= self.now:
                continue
            cus = self.body(sub["customer"])
            before = dict(sub)
            if sub["cancel_at_period_end"]:
                sub.update(
                    status="canceled",
                    ended_at=end,
                    canceled_at=sub["canceled_at"] or end - DAY,
                    cancellation_details={
                        "comment": None,
                        "feedback": None,
                        "reason": "cancellation_requested",
                    },
                )
                self.ctx.w.billing(
                    sub, customer=sub["customer"], status="canceled", change="updated"
                )
                self.event("customer.subscription.deleted", sub, end)
                self.status_changed[sub["customer"]] = end
                continue
            c = self.payer(cus, sub)
            months = (
                12 if sub["items"]["data"][0]["price"]["recurring"]["interval"] == "year" else 1
            )
            anchor = sub["billing_cycle_anchor"]
            k = 1
            while add_months(anchor, k * months) <= end:
                k += 1
            p_end = add_months(anchor, k * months)
            qty = sub["items"]["data"][0]["quantity"]
            discount = sub["discount"]
            disc = (
                discount
                if discount
                and (discount["end"] is None or end < discount["end"])
                and discount["coupon"]["duration"] != "once"
                else None
            )
            inv = c.invoice(
                created=end,
                reason="subscription_cycle",
                period=(end, p_end),
                lines=[c.sub_line(qty, end, p_end)],
                discount=disc,
                sub_id=sub["id"],
            )
            status = "past_due" if inv["outcome"] == "open" else "active"
            if inv["outcome"] == "draft":
                status = sub["status"] if sub["status"] != "trialing" else "active"
            sub.update(
                current_period_start=end,
                current_period_end=p_end,
                latest_invoice=inv["id"],
                status=status,
            )
            self.ctx.w.billing(sub, customer=sub["customer"], status=status, change="updated")
            if status != before["status"]:
                self.status_changed[sub["customer"]] = end + 1
            self.event(
                "customer.subscription.updated",
                sub,
                end + 1,
                {
                    "current_period_start": before["current_period_start"],
                    "current_period_end": before["current_period_end"],
                    "status": before["status"],
                },
            )
            self.save_customer(c, cus, status == "past_due")

    def retries(self) -> None:
        """Dunning: retry the open invoices whose next attempt falls today."""
        w, rng = self.ctx.w, self.rng
        rows = self.b.execute(
            "SELECT body FROM objects WHERE object='subscription' AND " "status='past_due'"
        ).fetchall()
        for (text,) in rows:
            sub = json.loads(text)
            inv = self.body(sub["latest_invoice"])
            t = inv["next_payment_attempt"]
            if inv["status"] != "open" or t is None or not self.start < t <= self.now:
                continue
            cus = self.body(sub["customer"])
            c = self.payer(cus, sub)
            ok = rng.random() < 0.55
            attempt = inv["attempt_count"] + 1
            pi = self.body(inv["payment_intent"]) if inv["payment_intent"] else None
            if pi is None:
                continue
            final = "paid" if ok else "uncollectible" if attempt >= 4 else "open"
            _, charges = c.collect(inv, [{"t": t, "ok": ok}], final, pi)
            ch = charges[0]
            body = {k: v for k, v in ch.items() if k != "_fee"}
            w.billing(body, customer=c.cus_id, status=body["status"])
            self.event("charge.succeeded" if ok else "charge.failed", body, t)
            inv.update(attempt_count=attempt, attempted=True, charge=ch["id"])
            if ok:
                inv.update(
                    status="paid",
                    paid=True,
                    amount_paid=inv["total"],
                    amount_remaining=0,
                    next_payment_attempt=None,
                    auto_advance=False,
                    status_transitions={**inv["status_transitions"], "paid_at": t},
                )
                sub["status"] = "active"
                self.erp_paid(c, inv, ch)
                # the case about this invoice's dunning needs no billing priority any more
                self.truth.resolve_dunning_case(inv["id"])
            elif attempt >= 4:
                inv.update(
                    status="uncollectible",
                    next_payment_attempt=None,
                    auto_advance=False,
                    status_transitions={
                        **inv["status_transitions"],
                        "marked_uncollectible_at": t + 60,
                    },
                )
                sub["status"] = "unpaid"
                self.truth.dunning_case_status(inv["id"], "unpaid")
            else:
                inv["next_payment_attempt"] = t + (5 if attempt == 2 else 7) * DAY
            w.billing(inv, customer=c.cus_id, status=inv["status"], change="updated")
            self.event("invoice.paid" if ok else "invoice.payment_failed", inv, t + 2)
            if sub["status"] != "past_due":
                w.billing(sub, customer=sub["customer"], status=sub["status"], change="updated")
                self.event("customer.subscription.updated", sub, t + 3, {"status": "past_due"})
                self.status_changed[sub["customer"]] = t + 3
                self.save_customer(c, cus, sub["status"] == "unpaid")

    def erp_paid(self, c: Company, inv: dict[str, Any], ch: dict[str, Any]) -> None:
        """Post a late payment and mark the ERP invoice paid."""
        e = self.ctx.w.cons["erp"]
        self.ctx.w.flush()
        row = e.execute(
            "SELECT * FROM \"transaction\" WHERE externalid=? AND type='CustInvc'"
            " ORDER BY id LIMIT 1",
            (inv["id"],),
        ).fetchone()
        cid = CURRENCY_IDS[c.currency]
        led = self.ctx.ledger
        pid = led.post(
            type_="CustPymt",
            tranid=f"PYMT-{ch['id'][-8:]}",
            when=ch["created"],
            entity=c.erp_id,
            currency=cid,
            total=inv["total"],
            externalid=ch["id"],
            memo=f"Stripe payment for {inv['number']}",
            status="Deposited",
            lines=[
                ("clearing", inv["total"], "Stripe clearing"),
                ("ar", -inv["total"], "Accounts receivable"),
            ],
            recorded=ch["created"] + 600,
        )
        if row:
            led.link(row[0], pid, "Payment", inv["total"])
            new = (*row[:10], "Paid In Full", row[11], erp_ts(ch["created"] + 600))
            self.ctx.w.erp("transaction", new, change="updated")
        else:
            # the ERP lacks the invoice (erp_invoice_missing): the payment stays unapplied
            self.ctx.w.discrepancy(
                "erp_payment_unapplied",
                "erp",
                {
                    "invoice": inv["id"],
                    "customer": c.cus_id,
                    "charge": ch["id"],
                    "erp_payment": pid,
                },
                {"amount": ch["amount_captured"], "currency": c.currency},
            )

    def refunds(self) -> None:
        """Refund a few charges of the last 30 days, fully, with a credit note."""
        ctx, rng, w = self.ctx, self.rng, self.ctx.w
        ids = [
            r[0]
            for r in self.b.execute(
                "SELECT id FROM objects WHERE object='charge' AND status='succeeded' AND created>=?"
                " ORDER BY id",
                (self.start - 30 * DAY,),
            )
        ]
        for oid in rng.sample(ids, min(len(ids), max(1, len(ids) // 300))):
            ch = self.body(oid)
            if ch["amount_refunded"] or ch["disputed"]:
                continue
            inv = self.body(ch["invoice"])
            cus = self.body(ch["customer"])
            c = self.payer(cus, None)
            t = self.t()
            amt = ch["amount"]
            re_id = stripe_id(c.rng, "re")
            txn = c.bt(
                amount=-amt,
                fee=0,
                created=t,
                source=re_id,
                type_="refund",
                category="refund",
                description="REFUND FOR CHARGE",
                avail=t,
            )
            refund = so.refund(re_id, amt, txn, oid, t, ch["currency"], ch["payment_intent"])
            w.billing(refund, status="succeeded")
            ch.update(amount_refunded=amt, refunded=True)
            w.billing(ch, customer=ch["customer"], status=ch["status"], change="updated")
            tax = inv["tax"] or 0
            cn_id = stripe_id(c.rng, "cn")
            cn = {
                "id": cn_id,
                "object": "credit_note",
                "amount": amt,
                "amount_shipping": 0,
                "created": t,
                "currency": ch["currency"],
                "customer": ch["customer"],
                "customer_balance_transaction": None,
                "discount_amount": 0,
                "discount_amounts": [],
                "effective_at": t,
                "invoice": inv["id"],
                "lines": so.list_of(
                    [
                        {
                            "id": stripe_id(c.rng, "cnli"),
                            "object": "credit_note_line_item",
                            "amount": amt - tax,
                            "amount_excluding_tax": amt - tax,
                            "description": "Refund",
                            "discount_amount": 0,
                            "discount_amounts": [],
                            "invoice_line_item": inv["lines"]["data"][0]["id"],
                            "livemode": False,
                            "quantity": 1,
                            "tax_amounts": [],
                            "tax_rates": [],
                            "type": "invoice_line_item",
                            "unit_amount": None,
                            "unit_amount_decimal": None,
                            "unit_amount_excluding_tax": None,
                        }
                    ],
                    f"/v1/credit_notes/{cn_id}/lines",
                ),
                "livemode": False,
                "memo": None,
                "metadata": {},
                "number": f"{inv['number']}-CN-{self.day_no:02d}",
                "out_of_band_amount": None,
                "pdf": f"https://pay.stripe.com/credit_notes/acct_q2c/test_{cn_id[3:]}/pdf",
                "reason": "product_unsatisfactory",
                "refund": re_id,
                "shipping_cost": None,
                "status": "issued",
                "subtotal": amt - tax,
                "subtotal_excluding_tax": amt - tax,
                "tax_amounts": [],
                "total": amt,
                "total_excluding_tax": amt - tax,
                "type": "post_payment",
                "voided_at": None,
            }
            w.billing(cn, customer=ch["customer"], status="issued")
            previous = {"post_payment_credit_notes_amount": inv["post_payment_credit_notes_amount"]}
            inv["post_payment_credit_notes_amount"] += amt
            w.billing(inv, customer=inv["customer"], status=inv["status"], change="updated")
            self.event("invoice.updated", inv, t, previous)
            self.event("charge.refunded", ch, t)
            self.event("refund.created", refund, t)
            self.event("credit_note.created", cn, t)
            cid = CURRENCY_IDS[ch["currency"]]
            income = "revenue" if inv["subscription"] else "services"
            lines = [(income, amt - tax, "Credit"), ("ar", -amt, "Accounts receivable")]
            if tax:
                lines.append(("tax", tax, "Tax"))
            ctx.ledger.post(
                type_="CustCred",
                tranid=cn["number"],
                when=t,
                entity=c.erp_id,
                currency=cid,
                total=amt,
                externalid=cn_id,
                memo=f"Credit note for {inv['number']}",
                status="Fully Applied",
                lines=lines,
                recorded=t + 600,
            )
            if rng.random() < 0.08:
                w.discrepancy(
                    "erp_refund_missing",
                    "erp",
                    {
                        "invoice": inv["id"],
                        "customer": ch["customer"],
                        "refund": re_id,
                        "charge": oid,
                    },
                    {"amount": amt, "currency": ch["currency"]},
                )
            else:
                ctx.ledger.post(
                    type_="CustRfnd",
                    tranid=f"RFND-{re_id[-8:]}",
                    when=t,
                    entity=c.erp_id,
                    currency=cid,
                    total=amt,
                    externalid=re_id,
                    memo=f"Refund for {inv['number']}",
                    status="Refunded",
                    lines=[
                        ("ar", amt, "Accounts receivable"),
                        ("clearing", -amt, "Stripe clearing"),
                    ],
                    recorded=t + 600,
                )

    def payouts(self) -> None:
        """Today's automatic payouts: settle every balance transaction due by today."""
        ctx, w = self.ctx, self.ctx.w
        w.flush()
        due: dict[str, list[dict[str, Any]]] = {}
        rows = self.b.execute(
            "SELECT body, payout FROM objects WHERE object='balance_transaction' AND "
            "(payout IS NULL OR status='pending') AND created >= ?",
            (self.start - 60 * DAY,),
        ).fetchall()
        for text, payout in rows:
            bt = json.loads(text)
            if bt["type"] == "payout" or payout_day(bt["available_on"]) < self.start - 10 * DAY:
                continue  # a payout's own line, or one left out of an old payout on purpose
            changed = False
            if bt["status"] == "pending" and bt["available_on"] <= self.now:
                bt["status"] = "available"
                changed = True
            if payout is None and payout_day(bt["available_on"]) + PAYOUT_HOUR <= self.now:
                due.setdefault(bt["currency"], []).append(bt)
            elif changed:
                w.billing(
                    bt, payout=payout, status=bt["status"], type_=bt["type"], change="updated"
                )
        rng = random.Random(f"{ctx.seed}:day:{self.day_no}:payouts")
        for currency in sorted(due):
            bts = sorted(due[currency], key=lambda b: b["id"])
            net = sum(b["net"] for b in bts)
            fees = sum(b["fee"] for b in bts)
            po = ctx.settle.payout_id(currency, self.start)
            if net <= 0:  # carried to a later payout, as Stripe carries a negative balance
                for b in bts:
                    w.billing(b, payout=None, status=b["status"], type_=b["type"], change="updated")
                continue
            for b in bts:
                w.billing(b, payout=po, status=b["status"], type_=b["type"], change="updated")
            ctx.settle.write_payout(
                w, ctx.ledger, rng, currency, self.start, net, fees, bts[-1]["id"]
            )
        # payouts in transit arrive
        for (text,) in self.b.execute(
            "SELECT body FROM objects WHERE object='payout' AND status='in_transit'"
        ).fetchall():
            po = json.loads(text)
            if po["arrival_date"] <= self.now:
                po["status"] = "paid"
                w.billing(po, status="paid", change="updated")
                self.event("payout.paid", po, po["arrival_date"])

    # ------------------------------------------------------------------ CRM
    def crm_activity(self) -> None:
        """People's edits, support cases, a deletion and one late-arriving change."""
        ctx, rng, w = self.ctx, self.rng, self.ctx.w
        s = w.cons["salesforce"]
        w.flush()
        # the newest row that was there before today (what a reader may already have seen)
        latest = s.execute(
            "SELECT max(system_modstamp) FROM records WHERE system_modstamp <= ?",
            (sf_datetime(self.start),),
        ).fetchone()[0]
        people = [*ctx.users.reps, *ctx.users.agents]

        def live(sobject: str) -> list[str]:
            return [
                r[0]
                for r in s.execute(
                    "SELECT id FROM records WHERE sobject=? AND is_deleted=0 ORDER BY id",
                    (sobject,),
                )
            ]

        def load(rid: str) -> dict[str, Any]:
            return json.loads(
                s.execute("SELECT body FROM records WHERE id=?", (rid,)).fetchone()[0]
            )

        def edit(sobject: str, rid: str, when: int, who: str, **values: Any) -> None:
            body = load(rid)
            body.update(
                values,
                LastModifiedDate=sf_datetime(when),
                LastModifiedById=who,
                SystemModstamp=sf_datetime(when),
            )
            w.salesforce(sobject, body, change="deleted" if values.get("IsDeleted") else "updated")

        accounts = live("Account")
        n_edit = max(2, len(accounts) // 100)
        for rid in rng.sample(accounts, min(n_edit, len(accounts))):
            fk = ctx.people.faker("US", rng.randint(0, 10**9))
            field = rng.choice(("Phone", "Website", "Industry"))
            value = {
                "Phone": fk.phone_number(),
                "Website": "https://" + fk.domain_name(),
                "Industry": rng.choice(("Technology", "Retail", "Media", "Finance")),
            }[field]
            edit("Account", rid, self.t(), rng.choice(ctx.users.reps), **{field: value})
            if field == "Phone":
                w.pii("salesforce", "Account", rid, "Phone", value)
        contacts = live("Contact")
        for rid in rng.sample(contacts, min(max(1, len(contacts) // 200), len(contacts))):
            edit(
                "Contact",
                rid,
                self.t(),
                rng.choice(people),
                Title=rng.choice(("CFO", "Head of Finance", "Controller", "VP Operations")),
            )
        if contacts and rng.random() < 0.5:
            edit("Contact", rng.choice(contacts), self.t(), rng.choice(people), IsDeleted=True)
        # support: new cases, and some open ones closed
        for _ in range(max(1, len(accounts) // 150)):
            cid = ctx.sf.new("Case")
            when = self.t()
            who = rng.choice(ctx.users.agents)
            from sandbox.world.company import CASE_SUBJECTS
            from sandbox.world.crm import record

            subject = rng.choice(CASE_SUBJECTS)
            w.salesforce(
                "Case",
                record(
                    "Case",
                    cid,
                    created=when,
                    created_by=who,
                    modified=when,
                    modified_by=who,
                    OwnerId=who,
                    AccountId=rng.choice(accounts),
                    CaseNumber=f"{ctx.sf.next['Case'] - 1:08d}",
                    Subject=subject,
                    Description=f"Customer wrote: {subject}.",
                    Status="New",
                    Priority=rng.choice(("Low", "Medium", "High")),
                    Origin=rng.choice(("Email", "Phone", "Web")),
                    Billing_Priority_Flag__c=False,
                ),
            )
        open_cases = [
            r[0]
            for r in s.execute(
                "SELECT id FROM records WHERE sobject='Case' AND is_deleted=0 AND "
                "json_extract(body, '$.Status') != 'Closed' ORDER BY id"
            )
        ]
        for rid in rng.sample(open_cases, min(len(open_cases), max(1, len(open_cases) // 20))):
            if load(rid)["Subject"].startswith("Payment failed"):
                continue
            edit(
                "Case", rid, self.t(), rng.choice(ctx.users.agents), Status="Closed", IsClosed=True
            )
        # late-arriving: a change stamped before rows the pipeline may already have read
        if latest:
            latest_ts = int(
                datetime.strptime(latest, "%Y-%m-%dT%H:%M:%S.000+0000")
                .replace(tzinfo=UTC)
                .timestamp()
            )
            stamp = sf_datetime(latest_ts - rng.randint(3600, 12 * 3600))
            older = [
                r[0]
                for r in s.execute(
                    "SELECT id FROM records WHERE sobject='Opportunity' AND is_deleted=0 AND "
                    "system_modstamp < ? ORDER BY id",
                    (stamp,),
                )
            ]
            if older:
                rid = rng.choice(older)
                body = load(rid)
                body.update(
                    Name=body["Name"] + " (revised)",
                    LastModifiedDate=stamp,
                    LastModifiedById=rng.choice(ctx.users.reps),
                    SystemModstamp=stamp,
                )
                w.salesforce("Opportunity", body, change="updated")

    # ------------------------------------------------------------------ CRM sync
    def billing_status(self, customer: str) -> str:
        """The account-level billing status of `customer` now (see BILLING_STATUS_PRECEDENCE)."""
        statuses = {
            r[0]
            for r in self.b.execute(
                "SELECT status FROM objects WHERE object='subscription' AND customer=?",
                (customer,),
            )
        }
        return next((s for s in BILLING_STATUS_PRECEDENCE if s in statuses), "none")

    def crm_status_sync(self, pending: dict[str, int]) -> dict[str, int]:
        """Copy changed billing statuses to their CRM accounts, as the integration user.

        Generation writes every account as its real-time sync last left it (the integration
        user, `CRM_SYNC_LAG` after the billing change); advanced days keep that sync running
        instead of leaving every status change of the day unseen by the CRM. A sync due after
        the day's end has not happened at this clock: the account stays as it is, the
        difference is recorded as `crm_billing_status_stale` (what a reconciliation run now
        rightly reports), and the next day applies it and removes that truth row. The sync
        overwrites the field whatever it held, so it also ends an older stale status of the
        account (a sync that missed earlier).

        Args:
            pending: customer id -> when its sync is due, carried from the previous day.

        Returns:
            The syncs still due after this day's end (customer id -> due time).
        """
        w = self.ctx.w
        w.flush()
        due = dict(pending)
        for cus, changed in self.status_changed.items():
            due[cus] = max(due.get(cus, 0), changed + CRM_SYNC_LAG)
        if not due:
            return {}
        s = w.cons["salesforce"]
        accounts: dict[str, list[str]] = {}
        for rid, cus in s.execute(
            "SELECT id, json_extract(body, '$.Billing_Customer_Id__c') FROM records"
            " WHERE sobject='Account' AND is_deleted=0 ORDER BY id"
        ):
            if cus in due:
                accounts.setdefault(cus, []).append(rid)
        stale = self.truth.rows_by("crm_billing_status_stale", "account")
        still: dict[str, int] = {}
        for cus in sorted(due):
            at = due[cus]
            status = self.billing_status(cus)
            if at > self.now:
                still[cus] = at
            for rid in accounts.get(cus, []):
                body = json.loads(
                    s.execute("SELECT body FROM records WHERE id=?", (rid,)).fetchone()[0]
                )
                # the sync (re)writes the field, or the account is judged again below
                self.truth.delete(stale.get(rid, []))
                if body["Billing_Status__c"] == status:
                    continue
                if at > self.now:
                    w.discrepancy(
                        "crm_billing_status_stale",
                        "salesforce",
                        {"account": rid, "customer": cus},
                        {
                            "crm_status": body["Billing_Status__c"],
                            "billing_status": status,
                            "sync_due": at,
                        },
                    )
                    continue
                body["Billing_Status__c"] = status
                # a person's edit later today already carries the newer stamps
                if body["SystemModstamp"] < sf_datetime(at):
                    body.update(
                        LastModifiedDate=sf_datetime(at),
                        LastModifiedById=self.ctx.users.integration,
                        SystemModstamp=sf_datetime(at),
                    )
                w.salesforce("Account", body, change="updated")
        return still


class Truth:
    """Keeps the ground truth equal to what the world contains when a day's activity ends an
    injected discrepancy (the `discrepancies` rows of earlier days and of generation)."""

    def __init__(self, w: WorldWriter) -> None:
        self.w = w
        self.con = w.cons["truth"]

    def rows_by(self, kind: str, key: str) -> dict[str, list[int]]:
        """Row ids of the `kind` discrepancies by their `object_ids[key]` (one scan)."""
        self.w.flush()
        out: dict[str, list[int]] = {}
        for rid, value in self.con.execute(
            "SELECT id, json_extract(object_ids, ?) FROM discrepancies WHERE kind=? ORDER BY id",
            (f"$.{key}", kind),
        ):
            out.setdefault(value, []).append(rid)
        return out

    def _ids(self, kind: str, key: str, value: str) -> list[int]:
        self.w.flush()
        return [
            r[0]
            for r in self.con.execute(
                "SELECT id FROM discrepancies WHERE kind=? AND json_extract(object_ids, ?)=?"
                " ORDER BY id",
                (kind, f"$.{key}", value),
            )
        ]

    def delete(self, ids: list[int]) -> None:
        """Drop these rows: the world no longer holds their discrepancy."""
        self.con.executemany("DELETE FROM discrepancies WHERE id=?", [(i,) for i in ids])

    def resolve_dunning_case(self, invoice: str) -> None:
        """The dunning invoice is paid: its case is no longer about dunning."""
        self.delete(self._ids("case_dunning_without_priority", "invoice", invoice))

    def dunning_case_status(self, invoice: str, status: str) -> None:
        """The dunning invoice's subscription moved on (to `unpaid`): still a dunning case."""
        for rid in self._ids("case_dunning_without_priority", "invoice", invoice):
            (text,) = self.con.execute(
                "SELECT detail FROM discrepancies WHERE id=?", (rid,)
            ).fetchone()
            detail = {**json.loads(text), "subscription_status": status}
            self.con.execute(
                "UPDATE discrepancies SET detail=? WHERE id=?",
                (dumps(detail), rid),
            )
