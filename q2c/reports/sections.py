"""The report's sections, each read from the warehouse with one or a few SQL queries.

Every number is the warehouse's: sums in SQL over the marts, the `rec_*` tables and (where no
mart holds them) the staged billing balance transactions and ERP ledger lines; the only
arithmetic here is minor -> major units (`money.minor_to_major`) and the differences of a
tie-out. Amounts stay in their own currency; nothing is converted.

The period filters facts by when they happened (`created_at`, `finalized_at`, ERP
`transaction_date`) in [start, end). Open items, holds and the verdict are the warehouse's
state at its as-of time (`int_warehouse__as_of`), limited to what originated before the
period's end; the header shows that time.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from q2c.policy.model import Contract
from q2c.reports.model import Column, ColumnKind, Section
from q2c.reports.money import minor_to_major
from q2c.reports.open_items import action_for, age_bucket
from q2c.reports.period import Period
from q2c.reports.reader import WarehouseReader

BALANCE_TRANSACTIONS = "staging.stg_billing__balance_transactions"
REC_BREAKS = "reconciliation.rec_breaks"
#: the balance transactions' reporting category of money sent to the bank
PAYOUT_CATEGORY = "payout"


def _money(key: str, label: str, currency_key: str = "currency") -> Column:
    return Column(key, label, "money", currency_key)


def _in_list(values: Iterable[str]) -> str:
    """A SQL list literal of quoted words from the contract (validated: letters and _ only)."""
    words = list(values)
    for w in words:
        if not w.replace("_", "").isalnum():
            raise ValueError(f"not a plain word: {w!r}")
    return "(" + ", ".join(f"'{w}'" for w in words) + ")"


# ---------------------------------------------------------------- balance summary
def balance_activity(reader: WarehouseReader, period: Period) -> dict[str, Any]:
    """Per currency: opening balance, activity per reporting category, closing (minor units)."""
    bt = BALANCE_TRANSACTIONS
    opening = reader.rows(
        f"select currency, cast(sum(net_amount) as bigint) from {bt}"
        " where not is_deleted and created_at < ? group by currency",
        ["currency", "net"],
        [period.start],
    )
    closing = reader.rows(
        f"select currency, cast(sum(net_amount) as bigint) from {bt}"
        " where not is_deleted and created_at < ? group by currency",
        ["currency", "net"],
        [period.end],
    )
    activity = reader.rows(
        f"select currency, reporting_category, cast(count(*) as bigint),"
        " cast(sum(amount) as bigint), cast(sum(fee_amount) as bigint),"
        " cast(sum(net_amount) as bigint),"
        " cast(sum(case when amount - fee_amount <> net_amount then 1 else 0 end) as bigint),"
        " cast(sum(amount - fee_amount - net_amount) as bigint)"
        f" from {bt} where not is_deleted and created_at >= ? and created_at < ?"
        " group by currency, reporting_category",
        ["currency", "category", "count", "gross", "fee", "net", "violations", "difference"],
        [period.start, period.end],
        order=["currency", "category"],
    )
    return {
        "opening": {r["currency"]: r["net"] for r in opening},
        "closing": {r["currency"]: r["net"] for r in closing},
        "activity": activity,
    }


def balance_summary(balances: dict[str, Any]) -> Section:
    currencies = sorted(set(balances["closing"]) | {a["currency"] for a in balances["activity"]})
    rows: list[dict[str, Any]] = []
    for cur in currencies:
        opening = balances["opening"].get(cur, 0)
        acts = [a for a in balances["activity"] if a["currency"] == cur]
        rows.append(_balance_row(cur, "opening balance", None, None, None, opening))
        for a in acts:
            if a["category"] != PAYOUT_CATEGORY:
                rows.append(
                    _balance_row(cur, a["category"], a["count"], a["gross"], a["fee"], a["net"])
                )
        for a in acts:
            if a["category"] == PAYOUT_CATEGORY:
                rows.append(_balance_row(cur, "payouts", a["count"], None, None, a["net"]))
        closing = opening + sum(a["net"] for a in acts)
        rows.append(_balance_row(cur, "closing balance", None, None, None, closing))
    return Section(
        "balance_summary",
        "Balance summary",
        "The billing platform's balance per currency: opening balance + activity by reporting "
        "category (net of fees) - payouts = closing balance.",
        [
            Column("currency", "Currency"),
            Column("line", "Line"),
            Column("count", "Transactions", "int"),
            _money("gross", "Gross"),
            _money("fee", "Fees"),
            _money("net", "Net"),
        ],
        rows,
        "ok" if rows else "none",
        "no balance transactions up to the period's end" if not rows else "",
        (BALANCE_TRANSACTIONS,),
    )


def _balance_row(
    currency: str,
    line: str,
    count: int | None,
    gross: int | None,
    fee: int | None,
    net: int,
) -> dict[str, Any]:
    def major(v: int | None) -> Decimal | None:
        return None if v is None else minor_to_major(v, currency)

    return {
        "currency": currency,
        "line": line,
        "count": count,
        "gross": major(gross),
        "fee": major(fee),
        "net": major(net),
    }


# ---------------------------------------------------------------- identities
def identities(reader: WarehouseReader, period: Period, balances: dict[str, Any]) -> Section:
    """gross - fee = net per transaction; each payout = its transactions' net; the roll-forward."""
    rows: list[dict[str, Any]] = []
    per_currency: dict[str, dict[str, int]] = {}
    for a in balances["activity"]:
        acc = per_currency.setdefault(a["currency"], {"checked": 0, "violations": 0, "diff": 0})
        acc["checked"] += a["count"]
        acc["violations"] += a["violations"]
        acc["diff"] += a["difference"]
    for cur, acc in sorted(per_currency.items()):
        rows.append(
            _identity(
                "gross - fee = net (each balance transaction of the period)",
                cur,
                acc["checked"],
                acc["violations"],
                minor_to_major(acc["diff"], cur),
            )
        )
    checked = reader.rows(
        "select currency, cast(count(*) as bigint) from marts.fct_payouts"
        " where created_at >= ? and created_at < ? group by currency",
        ["currency", "checked"],
        [period.start, period.end],
        order=["currency"],
    )
    broken = {
        r["currency"]: r
        for r in reader.rows(
            f"select currency, cast(count(*) as bigint), sum(difference_amount) from {REC_BREAKS}"
            " where break_kind = 'payout_sum_mismatch' and occurred_at >= ? and occurred_at < ?"
            " group by currency",
            ["currency", "violations", "difference"],
            [period.start, period.end],
        )
    }
    for r in checked:
        b = broken.get(r["currency"], {})
        rows.append(
            _identity(
                "payout = sum of its balance transactions' net (payouts of the period)",
                r["currency"],
                r["checked"],
                b.get("violations", 0),
                b.get("difference") or Decimal(0),
            )
        )
    for cur in sorted(balances["closing"]):
        opening = balances["opening"].get(cur, 0)
        rolled = opening + sum(a["net"] for a in balances["activity"] if a["currency"] == cur)
        diff = balances["closing"][cur] - rolled
        rows.append(
            _identity(
                "opening + activity - payouts = closing (every transaction up to period end)",
                cur,
                1,
                int(diff != 0),
                minor_to_major(diff, cur),
            )
        )
    return Section(
        "identities",
        "Identities checked",
        "Accounting identities of the billing balance; a violation is a break to investigate "
        "(payout violations are the payout_sum_mismatch breaks of rec_payouts).",
        [
            Column("identity", "Identity"),
            Column("currency", "Currency"),
            Column("checked", "Checked", "int"),
            Column("violations", "Violations", "int"),
            _money("difference", "Difference"),
            Column("holds", "Holds", "bool"),
        ],
        rows,
        "ok" if rows else "none",
        "" if rows else "no balance transactions or payouts in the period",
        (BALANCE_TRANSACTIONS, "marts.fct_payouts", REC_BREAKS),
    )


def _identity(
    name: str, currency: str, checked: int, violations: int, difference: Decimal
) -> dict[str, Any]:
    return {
        "identity": name,
        "currency": currency,
        "checked": checked,
        "violations": violations,
        "difference": difference,
        "holds": violations == 0,
    }


# ---------------------------------------------------------------- tie-outs
def tie_outs(
    reader: WarehouseReader, period: Period, contract: Contract, balances: dict[str, Any]
) -> Section:
    """The GL control accounts (the contract's chart of accounts) against billing's figures."""
    coa = contract.erp.chart_of_accounts
    ledger: dict[tuple[str, str], dict[str, Decimal]] = {
        (r["account"], r["currency"]): r
        for r in reader.rows(
            "select accounts.account_number, transactions.currency,"
            " sum(case when transactions.transaction_date < ?"
            "   then lines.debit_amount - lines.credit_amount else 0 end),"
            " sum(case when transactions.transaction_date >= ?"
            "   and transactions.transaction_date < ?"
            "   then lines.debit_amount - lines.credit_amount else 0 end)"
            " from staging.stg_erp__transaction_lines as lines"
            " inner join intermediate.int_erp_transactions__enriched as transactions"
            "   on transactions.erp_transaction_id = lines.erp_transaction_id"
            " inner join staging.stg_erp__accounts as accounts"
            "   on accounts.erp_account_id = lines.erp_account_id"
            " where not lines.is_deleted and not transactions.is_deleted"
            " group by accounts.account_number, transactions.currency",
            ["account", "currency", "balance", "activity"],
            [period.end.date(), period.start.date(), period.end.date()],
        )
    }
    start, end = period.start, period.end
    posted = _in_list(contract.rules.posted_invoice_statuses)
    billing = {
        "fees": {a["currency"]: a["fee"] for a in balances["activity"] if a["fee"]},  # minor units
        "payouts": {
            a["currency"]: -a["net"]
            for a in balances["activity"]
            if a["category"] == PAYOUT_CATEGORY
        },
        "open_invoices": _sum_by_currency(
            reader,
            "select currency, cast(sum(amount_remaining) as bigint) from marts.fct_invoices"
            " where invoice_status = 'open' and not is_deleted and finalized_at < ?"
            " group by currency",
            [end],
        ),
        "tax": _sum_by_currency(
            reader,
            "select currency, cast(sum(tax_amount) as bigint) from marts.fct_invoices"
            f" where invoice_status in {posted} and not is_deleted"
            " and finalized_at >= ? and finalized_at < ? group by currency",
            [start, end],
        ),
        "refunds": _sum_by_currency(
            reader,
            "select currency, cast(sum(amount) as bigint) from marts.fct_refunds"
            " where refund_status = 'succeeded' and created_at >= ? and created_at < ?"
            " group by currency",
            [start, end],
        ),
    }
    erp_refunds = {
        r["currency"]: r["total"]
        for r in reader.rows(
            "select currency, sum(foreign_total) from intermediate.int_erp_transactions__enriched"
            " where transaction_type = 'CustRfnd' and not is_deleted"
            " and transaction_date >= ? and transaction_date < ? group by currency",
            ["currency", "total"],
            [start.date(), end.date()],
        )
    }
    materiality = contract.reporting.materiality_minor if contract.reporting else {}
    currencies = sorted(
        {c for (_, c) in ledger} | set(balances["closing"]) | set(billing["open_invoices"])
    )
    rows: list[dict[str, Any]] = []

    def add(control: str, role: str | None, basis: str, cur: str, erp: Any, bill: Any) -> None:
        if erp is None and bill is None:
            return
        erp_amount = Decimal(erp or 0)
        billing_amount = minor_to_major(bill or 0, cur)
        difference = erp_amount - billing_amount
        limit = materiality.get(cur)
        limit_major = None if limit is None else minor_to_major(limit, cur)
        rows.append(
            {
                "control": control,
                "erp_account": coa[role].acctnumber if role else "CustRfnd",
                "currency": cur,
                "basis": basis,
                "erp_amount": erp_amount,
                "billing_amount": billing_amount,
                "difference": difference,
                "materiality": limit_major,
                "immaterial": limit_major is not None and abs(difference) <= limit_major,
            }
        )

    def gl(role: str, cur: str, field: str, sign: int = 1) -> Decimal | None:
        row = ledger.get((coa[role].acctnumber, cur)) if role in coa else None
        return None if row is None else sign * row[field]

    for cur in currencies:
        add(
            "clearing vs billing balance",
            "stripe_clearing",
            "balance at period end",
            cur,
            gl("stripe_clearing", cur, "balance"),
            balances["closing"].get(cur),
        )
        add(
            "AR vs open invoices",
            "accounts_receivable",
            "balance at period end (open invoices: as of the warehouse)",
            cur,
            gl("accounts_receivable", cur, "balance"),
            billing["open_invoices"].get(cur),
        )
        add(
            "fees",
            "fees_expense",
            "period activity",
            cur,
            gl("fees_expense", cur, "activity"),
            billing["fees"].get(cur),
        )
        add(
            "refunds",
            None,
            "period activity (ERP customer refunds)",
            cur,
            erp_refunds.get(cur),
            billing["refunds"].get(cur),
        )
        add(
            "sales tax payable",
            "tax_payable",
            "period activity (credits)",
            cur,
            gl("tax_payable", cur, "activity", -1),
            billing["tax"].get(cur),
        )
        bank = f"bank_{cur}"
        if bank in coa:
            add(
                "bank vs payouts",
                bank,
                "period activity",
                cur,
                gl(bank, cur, "activity"),
                billing["payouts"].get(cur),
            )
    return Section(
        "tie_outs",
        "Tie-outs to GL control accounts",
        "Each control account of the contract's chart of accounts in the ERP ledger against "
        "the billing figure it must equal; difference = ERP - billing, immaterial when at or "
        "under the contract's materiality for the currency.",
        [
            Column("control", "Tie-out"),
            Column("erp_account", "ERP account"),
            Column("currency", "Currency"),
            Column("basis", "Basis"),
            _money("erp_amount", "ERP"),
            _money("billing_amount", "Billing"),
            _money("difference", "Difference"),
            _money("materiality", "Materiality"),
            Column("immaterial", "Under materiality", "bool"),
        ],
        rows,
        "ok" if rows else "none",
        "" if rows else "no ledger lines and no billing figures",
        (
            "staging.stg_erp__transaction_lines",
            "intermediate.int_erp_transactions__enriched",
            "staging.stg_erp__accounts",
            "marts.fct_invoices",
            "marts.fct_refunds",
            BALANCE_TRANSACTIONS,
        ),
    )


def _sum_by_currency(reader: WarehouseReader, sql: str, params: list[Any]) -> dict[str, int]:
    return {r["currency"]: r["total"] for r in reader.rows(sql, ["currency", "total"], params)}


# ---------------------------------------------------------------- matching
#: reconciliation -> (mart, id column, amount column in minor units, filter, date column)
MONEY_RECONCILIATIONS: dict[str, tuple[str, str, str, str, str]] = {
    "rec_erp_invoices": (
        "fct_invoices",
        "invoice_id",
        "total_amount",
        "invoice_status in {posted} and not is_deleted",
        "finalized_at",
    ),
    "rec_erp_payments": ("fct_payments", "charge_id", "amount", "is_succeeded", "created_at"),
    "rec_erp_refunds": (
        "fct_refunds",
        "refund_id",
        "amount",
        "refund_status = 'succeeded'",
        "created_at",
    ),
    "rec_payouts": ("fct_payouts", "payout_id", "payout_amount", "true", "created_at"),
}


def matching(reader: WarehouseReader, period: Period, contract: Contract) -> Section:
    """Per money reconciliation and currency: the period's billing objects, how many the ERP
    holds with no break (matched), and the rest (unmatched), with amounts; then the breaks of
    every reconciliation in the period (rec_summary)."""
    posted = _in_list(contract.rules.posted_invoice_statuses)
    rows: list[dict[str, Any]] = []
    for rec, (mart, id_col, amount_col, where, date_col) in MONEY_RECONCILIATIONS.items():
        found = reader.rows(
            f"with population as ("
            f" select {id_col} as object_id, currency, {amount_col} as amount, is_posted_in_erp"
            f" from marts.{mart} where {where.format(posted=posted)}"
            f" and {date_col} >= ? and {date_col} < ?),"
            f" broken as (select distinct source_object_id from {REC_BREAKS}"
            "  where reconciliation = ?)"
            " select population.currency, cast(count(*) as bigint),"
            " cast(sum(population.amount) as bigint),"
            " cast(sum(case when population.is_posted_in_erp"
            "   and broken.source_object_id is null then 1 else 0 end) as bigint),"
            " cast(sum(case when population.is_posted_in_erp"
            "   and broken.source_object_id is null then population.amount else 0 end)"
            "   as bigint)"
            " from population left join broken"
            "   on broken.source_object_id = population.object_id"
            " group by population.currency",
            ["currency", "objects", "amount", "matched", "matched_amount"],
            [period.start, period.end, rec],
            order=["currency"],
        )
        for r in found:
            cur = r["currency"]
            rows.append(
                {
                    "reconciliation": rec,
                    "currency": cur,
                    "objects": r["objects"],
                    "amount": minor_to_major(r["amount"], cur),
                    "matched": r["matched"],
                    "matched_amount": minor_to_major(r["matched_amount"], cur),
                    "unmatched": r["objects"] - r["matched"],
                    "unmatched_amount": minor_to_major(r["amount"] - r["matched_amount"], cur),
                }
            )
    return Section(
        "matching",
        "Matched and unmatched per reconciliation",
        "Billing objects of the period per money reconciliation: matched = the ERP holds it "
        "and the reconciliation found no break on it.",
        [
            Column("reconciliation", "Reconciliation"),
            Column("currency", "Currency"),
            Column("objects", "Objects", "int"),
            _money("amount", "Amount"),
            Column("matched", "Matched", "int"),
            _money("matched_amount", "Matched amount"),
            Column("unmatched", "Unmatched", "int"),
            _money("unmatched_amount", "Unmatched amount"),
        ],
        rows,
        "ok" if rows else "none",
        "" if rows else "no billing objects in the period",
        tuple(f"marts.{m[0]}" for m in MONEY_RECONCILIATIONS.values()) + (REC_BREAKS,),
    )


def breaks_by_kind(reader: WarehouseReader, period: Period) -> Section:
    rows = reader.rows(
        "select reconciliation, break_kind, system_of_record, currency,"
        " cast(break_count as bigint), unexplained_amount, oldest_age_days"
        " from reconciliation.rec_summary where period_month = ?",
        [
            "reconciliation",
            "break_kind",
            "system_of_record",
            "currency",
            "breaks",
            "unexplained",
            "oldest_age_days",
        ],
        [period.start.date()],
        order=["reconciliation", "break_kind", "currency"],
    )
    return Section(
        "breaks",
        "Breaks of the period per reconciliation and kind",
        "Breaks that originated in the period (rec_summary): count, unexplained amount "
        "(sum of |difference|) and the oldest one's age. Currency '-': breaks with no amount.",
        [
            Column("reconciliation", "Reconciliation"),
            Column("break_kind", "Kind"),
            Column("system_of_record", "System of Record"),
            Column("currency", "Currency"),
            Column("breaks", "Breaks", "int"),
            _money("unexplained", "Unexplained"),
            Column("oldest_age_days", "Oldest (days)", "int"),
        ],
        rows,
        "ok" if rows else "none",
        "" if rows else "no break originated in the period",
        ("reconciliation.rec_summary",),
    )


def match_methods(reader: WarehouseReader, period: Period) -> Section:
    columns = [
        Column("reconciliation", "Reconciliation"),
        Column("match_method", "Match method"),
        Column("breaks", "Breaks", "int"),
        Column("min_confidence", "Lowest confidence", "decimal"),
        Column("max_confidence", "Highest confidence", "decimal"),
    ]
    section = Section(
        "match_methods",
        "Match methods and confidence",
        "How each open break's two sides were paired (rec_breaks.match_method) and how sure "
        "the pairing is (confidence, 0..1).",
        columns,
        sources=(REC_BREAKS,),
    )
    if not reader.has("reconciliation", "rec_breaks", "match_method", "confidence"):
        section.status = "unavailable"
        section.note = "rec_breaks has no match_method/confidence columns"
        return section
    section.rows = reader.rows(
        f"select reconciliation, match_method, cast(count(*) as bigint),"
        f" min(confidence), max(confidence) from {REC_BREAKS} where occurred_at < ?"
        " group by reconciliation, match_method",
        [c.key for c in columns],
        [period.end],
        order=["reconciliation", "match_method"],
    )
    if not section.rows:
        section.status = "none"
    return section


def verdict(reader: WarehouseReader) -> Section:
    columns = [
        Column("phase", "Phase"),
        Column("metric", "Metric"),
        Column("currency", "Currency"),
        Column("break_kind", "Break kind"),
        Column("max_value", "Threshold", "int"),
        Column("measured_value", "Measured", "int"),
        Column("is_passing", "Passes", "bool"),
        Column("is_phase_clean", "Phase clean", "bool"),
    ]
    rows = reader.rows(
        "select phase, metric, currency, break_kind, max_value, measured_value, is_passing,"
        " is_phase_clean from reconciliation.rec_verdict",
        [c.key for c in columns],
        order=["phase", "metric", "currency", "break_kind"],
    )
    return Section(
        "verdict",
        "Verdict",
        "The reconciliation thresholds of the contract per rollout phase, measured on every "
        "open break (rec_verdict; unexplained amounts in minor units). A phase is clean when "
        "every row of it passes.",
        columns,
        rows,
        "ok" if rows else "none",
        "" if rows else "the contract has no reconciliation thresholds",
        ("reconciliation.rec_verdict",),
    )


# ---------------------------------------------------------------- open items
def open_items(reader: WarehouseReader, period: Period, contract: Contract) -> Section:
    extra = [
        c
        for c in ("match_method", "confidence", "related_break_id")
        if c in reader.columns("reconciliation", "rec_breaks")
    ]
    names = [
        "break_id",
        "reconciliation",
        "break_kind",
        "system_of_record",
        "source_object_id",
        "target_object_id",
        "source_amount",
        "target_amount",
        "difference",
        "currency",
        "occurred_at",
        "age_days",
        "detail",
        *extra,
    ]
    rows = reader.rows(
        "select break_id, reconciliation, break_kind, system_of_record, source_object_id,"
        " target_object_id, source_amount, target_amount, difference_amount, currency,"
        " occurred_at, age_days, detail"
        + "".join(f", {c}" for c in extra)
        + f" from {REC_BREAKS} where occurred_at < ?",
        names,
        [period.end],
        order=["-age_days", "break_id"],
    )
    for r in rows:
        category, action = action_for(r["break_kind"])
        r["age_bucket"] = age_bucket(r["age_days"])
        r["category"] = category
        r["suggested_action"] = action
        r["owner"] = _owner(contract, r["system_of_record"])
        r["status"] = "open"
    # what finance acts on first; the ids that locate the break last
    columns = [
        Column("break_kind", "Kind"),
        Column("source_object_id", "System of Record side"),
        Column("target_object_id", "Other side"),
        _money("source_amount", "SoR amount"),
        _money("target_amount", "Other amount"),
        _money("difference", "Difference"),
        Column("currency", "Currency"),
        Column("occurred_at", "Originated", "datetime"),
        Column("age_days", "Age (days)", "int"),
        Column("age_bucket", "Age bucket"),
        Column("category", "Category"),
        Column("system_of_record", "System of Record"),
        Column("suggested_action", "Suggested action"),
        Column("owner", "Owner"),
        Column("status", "Status"),
        Column("detail", "Detail"),
        Column("reconciliation", "Reconciliation"),
        Column("break_id", "Break"),
    ]
    if "match_method" in extra:
        columns.append(Column("match_method", "Match method"))
    if "confidence" in extra:
        columns.append(Column("confidence", "Confidence", "decimal"))
    if "related_break_id" in extra:
        columns.append(Column("related_break_id", "Related break"))
    return Section(
        "open_items",
        "Open items",
        "Every open break that originated before the period's end, oldest first, aged at the "
        "warehouse's as-of time; the owner is the System of Record's owner in the contract.",
        columns,
        rows,
        "ok" if rows else "none",
        "" if rows else "no open break",
        (REC_BREAKS,),
    )


def _owner(contract: Contract, system: str | None) -> str:
    if system is None or system not in contract.systems:
        return "unassigned"
    owner = contract.systems[system].owner
    return f"{owner.name} ({owner.role})"


# ---------------------------------------------------------------- tables other parts write
def table_section(
    reader: WarehouseReader,
    key: str,
    title: str,
    description: str,
    schema: str,
    table: str,
    *,
    time_column: str | None,
    period: Period,
    since_start: bool = False,
) -> Section:
    """All columns of `schema.table` (written by another part of q2c): the rows whose
    `time_column` is in the period (or, `since_start`, at or after its start), every row when
    there is no such column; `unavailable` when the table is absent."""
    present = reader.columns(schema, table)
    section = Section(key, title, description, [], sources=(f"{schema}.{table}",))
    if not present:
        section.status = "unavailable"
        section.note = f"no {schema}.{table} table"
        return section
    where, params = "", []
    if time_column and time_column in present:
        if since_start:
            where, params = f" where {time_column} >= ?", [period.start]
            section.note = f"rows with {time_column} since {period.start:%Y-%m-%d}"
        else:
            where = f" where {time_column} >= ? and {time_column} < ?"
            params = [period.start, period.end]
            section.note = f"rows with {time_column} in {period}"
    section.rows = reader.rows(
        f"select {', '.join(present)} from {schema}.{table}{where}",
        present,
        params,
        order=[time_column] if time_column in present else present[:1],
    )
    section.columns = [Column(c, c.replace("_", " "), _kind_of(section.rows, c)) for c in present]
    if not section.rows:
        section.status = "none"
    return section


def _kind_of(rows: list[dict[str, Any]], key: str) -> ColumnKind:
    """A column's kind from its first non-null value (tables other parts of q2c write)."""
    for row in rows:
        value = row[key]
        if value is None:
            continue
        if isinstance(value, bool):
            return "bool"
        if isinstance(value, int):
            return "int"
        if isinstance(value, Decimal):
            return "decimal"
        if isinstance(value, datetime):
            return "datetime"
        return "text"
    return "text"
