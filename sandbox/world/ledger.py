"""ERP (NetSuite-shaped) reference data and postings: the books finance already keeps.

Amounts are decimal strings in major units; debits are positive `foreignamount`s and credits
negative, with `debitforeignamount` / `creditforeignamount` holding the unsigned side.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sandbox.world.profiles import DEFAULT, Profile
from sandbox.world.store import WorldWriter

CURRENCY_IDS = {"usd": 1, "eur": 2, "gbp": 3}
SUBSIDIARY_IDS = {"US": 1, "EU": 2, "UK": 3}
SUBSIDIARY_CURRENCY = {1: 1, 2: 2, 3: 3}


def amount(minor: int) -> str:
    """Minor units as a decimal string in major units (`"1234.50"`)."""
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    return f"{sign}{whole}.{cents:02d}"


def erp_ts(ts: int) -> str:
    """Epoch seconds as the ERP's timestamp text."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def erp_date(ts: int) -> str:
    """Epoch seconds as the ERP's date text."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def month_index(ts: int) -> int:
    """Months since year 0 of an epoch time (the key of accounting periods)."""
    d = datetime.fromtimestamp(ts, UTC)
    return d.year * 12 + d.month - 1


def write_reference(
    w: WorldWriter, first_month: int, last_month: int, now: int, profile: Profile = DEFAULT
) -> dict[int, int]:
    """Subsidiaries, currencies, chart of accounts (the profile's) and accounting periods.

    Returns:
        month index -> id of its monthly accounting period.
    """
    for cid, symbol, name in (
        (1, "USD", "US Dollar"),
        (2, "EUR", "Euro"),
        (3, "GBP", "British Pound"),
    ):
        w.erp("currency", (cid, symbol, name))
    for sid, name in ((1, "Q2C Inc."), (2, "Q2C Europe B.V."), (3, "Q2C Ltd")):
        w.erp("subsidiary", (sid, name, SUBSIDIARY_CURRENCY[sid]))
    for aid, number, name, kind in profile.chart.values():
        w.erp("account", (aid, number, name, kind))
    periods: dict[int, int] = {}
    pid = 0
    now_month = month_index(now)
    for year in range(first_month // 12, last_month // 12 + 1):
        pid += 1
        w.erp(
            "accountingperiod",
            (
                pid,
                f"FY {year}",
                f"{year}-01-01",
                f"{year}-12-31",
                "T" if year * 12 + 11 < now_month else "F",
                "F",
                "T",
            ),
        )
        for q in range(4):
            pid += 1
            qs, qe = _month_bounds(year * 12 + q * 3)[0], _month_bounds(year * 12 + q * 3 + 2)[1]
            closed = "T" if year * 12 + q * 3 + 2 < now_month else "F"
            w.erp("accountingperiod", (pid, f"Q{q + 1} {year}", qs, qe, closed, "T", "F"))
            for m in range(3):
                mi = year * 12 + q * 3 + m
                pid += 1
                start, end = _month_bounds(mi)
                name = datetime(year, mi % 12 + 1, 1).strftime("%b %Y")
                w.erp(
                    "accountingperiod",
                    (pid, name, start, end, "T" if mi < now_month else "F", "F", "F"),
                )
                periods[mi] = pid
    return periods


def _month_bounds(mi: int) -> tuple[str, str]:
    y, m = divmod(mi, 12)
    start = datetime(y, m + 1, 1)
    ny, nm = divmod(mi + 1, 12)
    last = datetime(ny, nm + 1, 1).toordinal() - 1
    return start.strftime("%Y-%m-%d"), datetime.fromordinal(last).strftime("%Y-%m-%d")


class Ledger:
    """Posts transactions with sequential ids (sparse ones under a profile that says so)."""

    def __init__(
        self,
        w: WorldWriter,
        periods: dict[int, int],
        next_txn: int = 1,
        next_customer: int = 1,
        now: int | None = None,
        profile: Profile = DEFAULT,
    ) -> None:
        self.now = now
        self.profile = profile
        self.acct = {k: v[0] for k, v in profile.chart.items()}
        self.w = w
        self.periods = periods
        self.next_txn = next_txn
        self.next_customer = next_customer

    def customer(
        self,
        companyname: str,
        externalid: str,
        currency: str,
        subsidiary: str,
        email: str,
        created: int,
    ) -> int:
        """Add an ERP customer; returns its internal id."""
        cid = self.next_customer
        self.next_customer = self.profile.erp_next_id(cid)
        if self.now is not None:
            created = min(created, self.now)
        self.w.erp(
            "customer",
            (
                cid,
                f"CUST{cid:06d}",
                companyname,
                externalid,
                CURRENCY_IDS[currency],
                SUBSIDIARY_IDS[subsidiary],
                email,
                erp_ts(created),
                erp_ts(created),
            ),
        )
        return cid

    def post(
        self,
        *,
        type_: str,
        tranid: str,
        when: int,
        entity: int | None,
        currency: int,
        total: int,
        externalid: str | None,
        memo: str | None,
        status: str,
        lines: list[tuple[str, int, str]],
        period_shift: int = 0,
        recorded: int | None = None,
    ) -> int:
        """Post one transaction with its lines (account key, signed minor amount, memo).

        Returns:
            the transaction's internal id.
        """
        tid = self.next_txn
        self.next_txn = self.profile.erp_next_id(tid)
        rec_ts = recorded if recorded is not None else when
        if self.now is not None:  # finance cannot have recorded it after the world's now
            rec_ts = min(rec_ts, self.now)
        rec = erp_ts(rec_ts)
        self.w.erp(
            "transaction",
            (
                tid,
                tranid,
                type_,
                erp_date(when),
                self.periods[month_index(when) + period_shift],
                entity,
                currency,
                amount(total),
                externalid,
                memo,
                status,
                rec,
                rec,
            ),
        )
        for seq, (acct, minor, line_memo) in enumerate(lines):
            self.w.erp(
                "transactionline",
                (
                    seq,
                    tid,
                    seq,
                    self.acct[acct],
                    amount(minor),
                    amount(minor) if minor > 0 else None,
                    amount(-minor) if minor < 0 else None,
                    line_memo,
                    entity,
                ),
            )
        return tid

    def link(self, previous: int, nxt: int, linktype: str, minor: int) -> None:
        """Apply document `nxt` (a payment) to `previous` (an invoice)."""
        self.w.erp("previoustransactionlinelink", (previous, 0, nxt, 0, linktype, amount(minor)))
