"""Automatic payouts: the cross-company aggregate of balance transactions, and partner payouts.

Each balance transaction is assigned, as it is written, to the daily automatic payout of its
currency for the first midnight at or after its `available_on` (payout created 02:00 UTC that
day). Only one running sum per (currency, day) and per (partner, month) is kept, so memory stays
bounded whatever the scale. `finish` writes the payouts, their own balance transactions and the
ERP journals (fees and cash), rolls days whose net is not positive into the next payout (as
Stripe carries a negative balance forward), and injects the payout discrepancies.
"""

from __future__ import annotations

import random
from typing import Any

from sandbox.world import stripe_objects as so
from sandbox.world.config import DAY, EVENT_DAYS
from sandbox.world.ids import keyed_id
from sandbox.world.ledger import CURRENCY_IDS, Ledger
from sandbox.world.store import WorldWriter

PAYOUT_HOUR = 7200  # payouts are created at 02:00 UTC of their day


def payout_day(available_on: int) -> int:
    """The midnight whose payout settles funds available at `available_on`."""
    return -(-available_on // DAY) * DAY


class Settlement:
    """Running sums per payout; written out by `finish`."""

    def __init__(self, seed: int, now: int, connected: dict[str, dict[str, Any]]) -> None:
        self.seed = seed
        self.now = now
        self.ev_start = now - EVENT_DAYS * DAY
        self.days: dict[tuple[str, int], list] = {}  # -> [net, fee, count, last txn id]
        self.partners: dict[tuple[str, int], int] = {}
        self.connected = connected  # acct id -> {"currency", "verified", "bank": ba id}
        self._ids: dict[tuple[str, int], str] = {}

    def payout_id(self, currency: str, day: int) -> str:
        """The id of the automatic payout of `currency` on `day`."""
        key = (currency, day)
        po = self._ids.get(key)
        if po is None:
            po = self._ids[key] = keyed_id("po", f"{self.seed}:po:{currency}:{day}")
        return po

    def add(self, currency: str, available_on: int, net: int, fee: int, txn: str) -> str | None:
        """Count a balance transaction; returns the payout that settles it, if made by now."""
        day = payout_day(available_on)
        if day + PAYOUT_HOUR > self.now:
            return None
        agg = self.days.get((currency, day))
        if agg is None:
            agg = self.days[(currency, day)] = [0, 0, 0, txn]
        agg[0] += net
        agg[1] += fee
        agg[2] += 1
        agg[3] = txn
        return self.payout_id(currency, day)

    def partner(self, account: str, currency: str, created: int, amount: int) -> None:
        """Count a transfer to a partner for its monthly payout."""
        month = created // (DAY * 30)
        key = (account, month)
        self.partners[key] = self.partners.get(key, 0) + amount

    def finish(self, w: WorldWriter, ledger: Ledger) -> dict[str, int]:
        """Write payouts, their balance transactions and ERP journals; returns figures."""
        rng = random.Random(f"{self.seed}:payouts")
        w.flush()
        con = w.cons["billing"]
        figures = {"payouts": 0, "merged_days": 0}
        remap: list[tuple[str, str | None]] = []
        for currency in sorted({c for c, _ in self.days}):
            carry: list[int] = []
            carry_net = carry_fee = 0
            for day in sorted(d for c, d in self.days if c == currency):
                net, fee, count, last_txn = self.days[(currency, day)]
                carry_net += net
                carry_fee += fee
                if carry_net <= 0:
                    carry.append(day)
                    continue
                po = self.payout_id(currency, day)
                remap.extend((self.payout_id(currency, old), po) for old in carry)
                figures["merged_days"] += len(carry)
                self.write_payout(w, ledger, rng, currency, day, carry_net, carry_fee, last_txn)
                figures["payouts"] += 1
                carry, carry_net, carry_fee = [], 0, 0
            # still not positive at now: carried to a payout after now
            remap.extend((self.payout_id(currency, old), None) for old in carry)
        if remap:
            # one pass over the table rather than one scan per carried day
            w.flush()
            con.execute("CREATE TEMP TABLE payout_map(old TEXT PRIMARY KEY, new TEXT)")
            con.executemany("INSERT INTO payout_map VALUES (?, ?)", remap)
            con.execute(
                "UPDATE objects SET payout=(SELECT new FROM payout_map WHERE old=objects.payout)"
                " WHERE object='balance_transaction' AND payout IN (SELECT old FROM payout_map)"
            )
            con.execute("DROP TABLE payout_map")
        figures["partner_payouts"] = self.partner_payouts(w, rng)
        return figures

    def write_payout(
        self,
        w: WorldWriter,
        ledger: Ledger,
        rng: random.Random,
        currency: str,
        day: int,
        amount: int,
        fees: int,
        last_txn: str,
    ) -> None:
        """Write one platform payout, its balance transaction and its ERP journals."""
        po = self.payout_id(currency, day)
        created = day + PAYOUT_HOUR
        arrival = day + DAY
        txn = keyed_id("txn", f"{self.seed}:potxn:{currency}:{day}")
        body = {
            "id": po,
            "object": "payout",
            "amount": amount,
            "arrival_date": arrival,
            "automatic": True,
            "balance_transaction": txn,
            "created": created,
            "currency": currency,
            "description": "STRIPE PAYOUT",
            "destination": keyed_id("ba", f"{self.seed}:platform-bank:{currency}"),
            "failure_balance_transaction": None,
            "failure_code": None,
            "failure_message": None,
            "livemode": False,
            "metadata": {},
            "method": "standard",
            "original_payout": None,
            "reconciliation_status": "completed",
            "reversed_by": None,
            "source_type": "card",
            "statement_descriptor": None,
            "status": "paid" if arrival <= self.now else "in_transit",
            "type": "bank_account",
        }
        w.billing(body, status=body["status"])
        if created >= self.ev_start:
            snap = {**body, "status": "in_transit"}
            w.billing(
                so.event(rng, "payout.created", snap, created), type_="payout.created", delivered=1
            )
        if body["status"] == "paid" and self.ev_start <= arrival <= self.now:
            w.billing(so.event(rng, "payout.paid", body, arrival), type_="payout.paid", delivered=1)
        bt = {
            "id": txn,
            "object": "balance_transaction",
            "amount": -amount,
            "available_on": created,
            "created": created,
            "currency": currency,
            "description": "STRIPE PAYOUT",
            "exchange_rate": None,
            "fee": 0,
            "fee_details": [],
            "net": -amount,
            "reporting_category": "payout",
            "source": po,
            "status": "available",
            "type": "payout",
        }
        w.billing(bt, payout=po, status="available", type_="payout")
        r = rng.random()
        if r < 0.02:
            w.flush()
            w.cons["billing"].execute("UPDATE objects SET payout=NULL WHERE id=?", (last_txn,))
            row = (
                w.cons["billing"]
                .execute("SELECT body FROM objects WHERE id=?", (last_txn,))
                .fetchone()
            )
            import json

            missing_net = json.loads(row[0])["net"]
            w.discrepancy(
                "payout_sum_mismatch",
                "billing",
                {"payout": po, "missing": last_txn},
                {"payout_amount": amount, "listed_net": amount - missing_net, "currency": currency},
            )
        cid = CURRENCY_IDS[currency]
        if fees:
            ledger.post(
                type_="Journal",
                tranid=f"JE-FEE-{day // DAY}-{currency.upper()}",
                when=created,
                entity=None,
                currency=cid,
                total=fees,
                externalid=f"fee_{txn}",
                memo=f"Stripe fees settled by {po}",
                status="Approved for Posting",
                lines=[("fees", fees, "Stripe fees"), ("clearing", -fees, "Stripe clearing")],
                recorded=created + 3 * 3600,
            )
        if 0.02 <= r < 0.05:
            w.discrepancy(
                "payout_not_posted",
                "erp",
                {"payout": po},
                {"amount": amount, "currency": currency, "arrival_date": arrival},
            )
            return
        ledger.post(
            type_="Journal",
            tranid=f"JE-PO-{day // DAY}-{currency.upper()}",
            when=created,
            entity=None,
            currency=cid,
            total=amount,
            externalid=po,
            memo=f"Stripe payout {po}",
            status="Approved for Posting",
            lines=[
                (f"bank_{currency}", amount, "Bank deposit"),
                ("clearing", -amount, "Stripe clearing"),
            ],
            recorded=created + 3 * 3600,
        )

    def partner_payouts(self, w: WorldWriter, rng: random.Random) -> int:
        """Monthly payouts of partners' balances to their banks (held while unverified)."""
        n = 0
        last_month: dict[str, int] = {}
        for acct, month in self.partners:
            last_month[acct] = max(last_month.get(acct, month), month)
        injected: set[str] = set()
        for (acct, month), amount in sorted(self.partners.items()):
            info = self.connected[acct]
            created = (month + 1) * DAY * 30 + 3 * 3600
            if created > self.now:
                continue
            if not info["verified"]:
                last = month == last_month[acct] or (month + 1) * DAY * 30 + DAY * 30 > self.now
                if not (rng.random() < 0.15 or (last and acct not in injected)):
                    continue
                injected.add(acct)
            po = keyed_id("po", f"{self.seed}:partner:{acct}:{month}")
            arrival = created + 2 * DAY
            body = {
                "id": po,
                "object": "payout",
                "amount": amount,
                "arrival_date": arrival,
                "automatic": True,
                "balance_transaction": None,
                "created": created,
                "currency": info["currency"],
                "description": "STRIPE PAYOUT",
                "destination": info["bank"],
                "failure_balance_transaction": None,
                "failure_code": None,
                "failure_message": None,
                "livemode": False,
                "metadata": {"connected_account": acct},
                "method": "standard",
                "original_payout": None,
                "reconciliation_status": "not_applicable",
                "reversed_by": None,
                "source_type": "card",
                "statement_descriptor": None,
                "status": "paid" if arrival <= self.now else "in_transit",
                "type": "bank_account",
            }
            w.billing(body, status=body["status"])
            n += 1
            if not info["verified"]:
                w.discrepancy(
                    "payout_to_unverified_account",
                    "billing",
                    {"payout": po, "account": acct},
                    {"amount": amount, "currency": info["currency"], "payouts_enabled": False},
                )
        return n
