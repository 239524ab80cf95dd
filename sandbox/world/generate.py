"""`generate`: write a whole world (four SQLite files) from `(seed, scale, now)`.

Companies are simulated one at a time and their rows written in batches, so memory stays
bounded by one company plus the per-day payout sums, whatever the scale.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from sandbox.world import stripe_objects as so
from sandbox.world.catalog import build_catalog
from sandbox.world.company import Company, Ctx, Users
from sandbox.world.config import (
    CURRENCIES,
    DAY,
    DEFAULT_NOW,
    EVENT_DAYS,
    EVENT_LISTABLE_DAYS,
    HISTORY_DAYS,
    SCALES,
    Scale,
    epoch,
)
from sandbox.world.crm import SalesforceIds, present_record, record
from sandbox.world.ids import B62, stripe_id
from sandbox.world.ledger import Ledger, month_index, write_reference
from sandbox.world.people import People, bank_account
from sandbox.world.profiles import Profile, resolve_profile
from sandbox.world.salesforce_schema import INTEGRATION_USER_USERNAME
from sandbox.world.settlement import Settlement
from sandbox.world.store import WorldWriter, connect

PARTNER_COUNTRIES = {"usd": "US", "eur": "DE", "gbp": "GB"}


@dataclass(frozen=True)
class WorldSummary:
    """What `generate` wrote.

    Attributes:
        world_dir: the directory of the four files.
        seed: the seed.
        scale: the scale's name.
        now: the world's clock (epoch seconds).
        counts: `truth.counts` as {(system, object): n}.
        discrepancies: injected discrepancies by kind.
        seconds: wall time of the generation.
    """

    world_dir: Path
    seed: int
    scale: str
    now: int
    counts: dict[tuple[str, str], int]
    discrepancies: dict[str, int]
    seconds: float
    profile: str = "default"


def resolve_scale(scale: str | Scale) -> Scale:
    """The `Scale` named `scale` (or `scale` itself).

    Raises:
        ValueError: an unknown scale name.
    """
    if isinstance(scale, Scale):
        return scale
    try:
        return SCALES[scale]
    except KeyError:
        raise ValueError(f"unknown scale {scale!r}; choose one of {sorted(SCALES)}") from None


def generate(
    world_dir: Path,
    seed: int = 7,
    scale: str | Scale = "S",
    now: datetime = DEFAULT_NOW,
    profile: str | Profile = "default",
) -> WorldSummary:
    """Generate a world into `world_dir` (replacing any world there).

    Args:
        world_dir: directory for billing.sqlite, salesforce.sqlite, erp.sqlite, truth.sqlite.
        seed: the seed; the same (seed, scale, now) gives the same bytes.
        scale: "S", "M", "L" (see `SCALES`) or a `Scale`.
        now: the world's clock; history covers the 730 days before it.
        profile: how the company's systems are set up (`sandbox.world.profiles`): `default`
            (the shipped contract's org) or `messy`; the same seed gives the same business.

    Returns:
        A summary with the counts and the discrepancies by kind.
    """
    t0 = time.perf_counter()
    sc = resolve_scale(scale)
    prof = resolve_profile(profile)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    world_dir = Path(world_dir)
    now_ts = epoch(now)
    start = now_ts - HISTORY_DAYS * DAY
    present = None if prof.is_default else partial(present_record, prof)
    w = WorldWriter(world_dir, create=True, batch=sc.batch, present=present)
    w.listable_from = now_ts - EVENT_LISTABLE_DAYS * DAY
    periods = write_reference(
        w, month_index(start - 365 * DAY), month_index(now_ts) + 24, now_ts, prof
    )
    cat = build_catalog(seed, start)
    people = People()
    sf = SalesforceIds()
    users = write_users(w, sf, people, seed, sc, start)
    connected = write_connected_accounts(w, people, seed, sc, start)
    partners: dict[str, list[str]] = {c: [] for c in CURRENCIES}
    for acct, info in connected.items():
        partners[info["currency"]].append(acct)
    settle = Settlement(seed, now_ts, connected)
    ledger = Ledger(
        w, periods, prof.erp_first_transaction, prof.erp_first_customer, now=now_ts, profile=prof
    )
    ctx = Ctx(
        seed=seed,
        scale=sc.name,
        now=now_ts,
        start=start,
        w=w,
        cat=cat,
        people=people,
        sf=sf,
        ledger=ledger,
        users=users,
        partners=partners,
        settle=settle,
        ev_start=now_ts - EVENT_DAYS * DAY,
        profile=prof,
    )
    for i in range(sc.accounts):
        Company(ctx, i).run()
    settle.finish(w, ledger)
    for product in cat.products:
        w.billing(product)
    for price in [*cat.prices.values(), *cat.service_prices.values()]:
        w.billing(price)
    for coupon in cat.coupons:
        w.billing({**coupon, "times_redeemed": ctx.coupon_uses[coupon["id"]]})
    for rate in cat.tax_rates.values():
        w.billing(rate)
    state = {
        "companies": sc.accounts,
        "advanced_days": 0,
        "sf_next": sf.next,
        "erp_next_txn": ledger.next_txn,
        "erp_next_customer": ledger.next_customer,
        "periods": {str(k): v for k, v in periods.items()},
        "users": {"integration": users.integration, "reps": users.reps, "agents": users.agents},
        "partners": partners,
        "connected": connected,
    }
    meta = {"seed": str(seed), "scale": sc.name, "now": str(now_ts), "generator": "sandbox.world 1"}
    if not prof.is_default:  # a default world stays byte for byte what it always was
        meta["profile"] = prof.name
    w.set_meta(meta)
    if prof.erp_date_format:
        # the ERP account's date-format preference: how SuiteQL answers plain date columns
        w.cons["erp"].execute(
            "INSERT OR REPLACE INTO meta VALUES ('date_format', ?)", (prof.erp_date_format,)
        )
    w.cons["truth"].execute(
        "INSERT OR REPLACE INTO meta VALUES ('state', ?)", (json.dumps(state, sort_keys=True),)
    )
    w.flush()
    counts = write_counts(w, now_ts)
    w.close()
    return WorldSummary(
        world_dir=world_dir,
        seed=seed,
        scale=sc.name,
        now=now_ts,
        counts=counts,
        discrepancies=discrepancy_counts(world_dir),
        seconds=time.perf_counter() - t0,
        profile=prof.name,
    )


def write_counts(w: WorldWriter, now: int) -> dict[tuple[str, str], int]:
    """Replace `truth.counts` with the writer's running counts (events: the listable ones)."""
    counts: dict[tuple[str, str], int] = {}
    for obj, n in w.billing_counts.items():
        counts[("billing", obj)] = n
    # events drop out of the listing 30 days after they happened, so they are counted by time
    cutoff = now - EVENT_LISTABLE_DAYS * DAY
    if w.listable_from == cutoff:  # counted while written
        counts[("billing", "event")] = w.listable_events
    else:
        counts[("billing", "event")] = (
            w.cons["billing"]
            .execute(
                "SELECT count(*) FROM objects WHERE object='event' AND created >= ?", (cutoff,)
            )
            .fetchone()[0]
        )
    for obj, n in w.sf_counts.items():
        counts[("salesforce", obj)] = n
    for obj, n in w.erp_counts.items():
        counts[("erp", obj)] = n
    con = w.cons["truth"]
    con.execute("DELETE FROM counts")
    con.executemany(
        "INSERT INTO counts VALUES (?,?,?)", [(s, o, n) for (s, o), n in sorted(counts.items())]
    )
    return counts


def discrepancy_counts(world_dir: Path) -> dict[str, int]:
    """Injected discrepancies by kind, from `truth.sqlite`."""
    con = connect(Path(world_dir) / "truth.sqlite")
    try:
        return dict(
            con.execute(
                "SELECT kind, count(*) FROM discrepancies GROUP BY kind ORDER BY kind"
            ).fetchall()
        )
    finally:
        con.close()


def write_users(
    w: WorldWriter, sf: SalesforceIds, people: People, seed: int, sc: Scale, start: int
) -> Users:
    """The integration user, sales reps and support agents."""
    rng = random.Random(f"{seed}:users")
    fk = people.faker("US", seed)
    integ = sf.new("User")
    created = start - 400 * DAY
    w.salesforce(
        "User",
        record(
            "User",
            integ,
            created=created,
            created_by=integ,
            modified=created,
            modified_by=integ,
            Username=INTEGRATION_USER_USERNAME,
            FirstName="Integration",
            LastName="User",
            Email=INTEGRATION_USER_USERNAME,
            IsActive=True,
            UserType="Standard",
        ),
    )
    reps, agents = [], []
    for k in range(sc.users - 1):
        uid = sf.new("User")
        first, last = fk.first_name(), fk.last_name()
        email = f"{first.lower()}.{last.lower()}{k}@q2c.example"
        u_created = created + rng.randint(0, 300) * DAY
        w.salesforce(
            "User",
            record(
                "User",
                uid,
                created=u_created,
                created_by=integ,
                modified=u_created + rng.randint(0, 90) * DAY,
                modified_by=integ,
                Username=email,
                FirstName=first,
                LastName=last,
                Email=email,
                IsActive=rng.random() > 0.05,
                UserType="Standard",
            ),
        )
        for f, v in (("FirstName", first), ("LastName", last), ("Email", email)):
            w.pii("salesforce", "User", uid, f, v)
        (reps if k % 5 < 3 else agents).append(uid)
    return Users(integration=integ, reps=reps, agents=agents)


def write_connected_accounts(
    w: WorldWriter, people: People, seed: int, sc: Scale, start: int
) -> dict[str, dict[str, Any]]:
    """Partner (reseller) connected accounts; every eighth one is not verified."""
    out: dict[str, dict[str, Any]] = {}
    for j in range(sc.connected_accounts):
        rng = random.Random(f"{seed}:connected:{j}")
        currency = CURRENCIES[j % 3]
        country = PARTNER_COUNTRIES[currency]
        fk = people.faker(country, seed * 7919 + j)
        co = people.company(fk, country)
        holder = people.person(fk, co.domain)
        verified = j % 8 != 5
        acct = "acct_1" + "".join(rng.choices(B62, k=15))
        ba_id = stripe_id(rng, "ba")
        bank = bank_account(fk, rng, country)
        number = bank.get("iban") or bank["account_number"]
        created = start - rng.randint(30, 300) * DAY
        ba = {
            "id": ba_id,
            "object": "bank_account",
            "account": acct,
            "account_holder_name": co.name,
            "account_holder_type": "company",
            "account_type": None,
            "available_payout_methods": ["standard"],
            "bank_name": fk.company() + " Bank",
            "country": country,
            "currency": currency,
            "default_for_currency": True,
            "fingerprint": "".join(rng.choices(B62, k=16)),
            "last4": number[-4:],
            "metadata": {},
            "routing_number": bank.get("routing_number"),
            "status": "verified" if verified else "new",
        }
        due = [] if verified else ["company.tax_id", "representative.verification.document"]
        requirements = {
            "alternatives": [],
            "current_deadline": None,
            "currently_due": due,
            "disabled_reason": None if verified else "requirements.past_due",
            "errors": [],
            "eventually_due": due,
            "past_due": due,
            "pending_verification": [],
        }
        meta = {
            "partner_name": co.name,
            "payout_account_holder": holder.first_name + " " + holder.last_name,
        }
        if "iban" in bank:
            meta["payout_iban"] = bank["iban"]
        else:
            meta["payout_account_number"] = bank["account_number"]
            meta["payout_routing_number"] = bank["routing_number"]
        body = {
            "id": acct,
            "object": "account",
            "business_profile": {
                "mcc": "7372",
                "name": co.name,
                "product_description": "Software reseller",
                "support_address": None,
                "support_email": holder.email,
                "support_phone": co.phone,
                "support_url": None,
                "url": "https://www." + co.domain,
            },
            "business_type": "company",
            "capabilities": {"transfers": "active" if verified else "inactive"},
            "charges_enabled": verified,
            "company": {
                "address": {
                    "city": co.city,
                    "country": country,
                    "line1": co.street,
                    "line2": None,
                    "postal_code": co.postcode,
                    "state": None,
                },
                "directors_provided": True,
                "executives_provided": True,
                "name": co.name,
                "owners_provided": True,
                "phone": co.phone,
                "tax_id_provided": verified,
                "verification": {
                    "document": {"back": None, "details": None, "details_code": None, "front": None}
                },
            },
            "country": country,
            "created": created,
            "default_currency": currency,
            "details_submitted": True,
            "email": holder.email,
            "external_accounts": so.list_of([ba], f"/v1/accounts/{acct}/external_accounts"),
            "future_requirements": {
                **requirements,
                "currently_due": [],
                "past_due": [],
                "eventually_due": [],
                "disabled_reason": None,
            },
            "metadata": meta,
            "payouts_enabled": verified,
            "requirements": requirements,
            "tos_acceptance": {"date": created, "ip": None, "user_agent": None},
            "type": "custom",
        }
        w.billing(body)
        for f, v in (
            ("metadata.payout_iban", bank.get("iban")),
            ("metadata.payout_account_number", bank.get("account_number")),
            ("metadata.payout_routing_number", bank.get("routing_number")),
            ("metadata.payout_account_holder", meta["payout_account_holder"]),
            ("email", holder.email),
            ("company.phone", co.phone),
            ("company.address.line1", co.street),
        ):
            w.pii("billing", "account", acct, f, v)
        out[acct] = {"currency": currency, "verified": verified, "bank": ba_id}
    return out
