"""The ERP tables q2c lands, and the SuiteQL that reads each of them.

- subsidiary, currency, account, accountingperiod: small reference tables, re-read in full;
  `object_id` = `id`, no `provider_ref`.
- customer, transaction: incremental on `lastmodifieddate >= cursor - overlap`;
  `object_id` = `id`, `provider_ref` = `lastmodifieddate`.
- previoustransactionlinelink (payment/credit applications): re-read in full; `object_id` =
  `<previousdoc>:<previousline>:<nextdoc>:<nextline>`.
- transactionline: incremental on its transaction's `lastmodifieddate` (lines are edited through
  their transaction, which NetSuite stamps); `object_id` = `<transaction>:<id>`,
  `provider_ref` = the transaction's `lastmodifieddate`.

Every query orders by its cursor column then its key, so a page boundary never splits what the
cursor covers, and the 100,000-row SuiteQL window can be crossed by restarting from the last
value seen (inclusive; the landing drops the re-read rows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from extractors.erp.normalize import DATE_COLUMNS, TIMESTAMP_COLUMNS


@dataclass(frozen=True)
class TableSpec:
    """How one ERP table is read.

    Attributes:
        name: the SuiteQL table (and the landing object: `raw.erp__<name>`).
        columns: the columns landed, in order.
        description: what the table holds, for a finance analyst.
        modified: the timestamp column of the incremental read, or None for a full re-read.
    """

    name: str
    columns: tuple[str, ...]
    description: str
    modified: str | None = None

    @property
    def incremental(self) -> bool:
        return self.modified is not None


TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in [
        TableSpec(
            "subsidiary",
            ("id", "name", "currency"),
            "Legal entities the ERP books for, each with its base currency.",
        ),
        TableSpec(
            "currency",
            ("id", "symbol", "name"),
            "Currencies the ERP knows (USD, EUR, GBP), by internal id.",
        ),
        TableSpec(
            "account",
            ("id", "acctnumber", "acctname", "accttype"),
            "The chart of accounts: bank, receivables, income, liabilities, expenses.",
        ),
        TableSpec(
            "accountingperiod",
            ("id", "periodname", "startdate", "enddate", "closed", "isquarter", "isyear"),
            "Accounting periods (months, quarters, years) and whether each is closed.",
        ),
        TableSpec(
            "customer",
            (
                "id",
                "entityid",
                "companyname",
                "externalid",
                "currency",
                "subsidiary",
                "email",
                "datecreated",
                "lastmodifieddate",
            ),
            "Customers in the ERP; `externalid` is the billing customer id they mirror.",
            modified="lastmodifieddate",
        ),
        TableSpec(
            "transaction",
            (
                "id",
                "tranid",
                "type",
                "trandate",
                "postingperiod",
                "entity",
                "currency",
                "foreigntotal",
                "externalid",
                "memo",
                "status",
                "createddate",
                "lastmodifieddate",
            ),
            "Postings: invoices, payments, credit memos, refunds and journals (fees, payouts), "
            "with the billing object each came from in `externalid`.",
            modified="lastmodifieddate",
        ),
        TableSpec(
            "transactionline",
            (
                "id",
                "transaction",
                "linesequencenumber",
                "account",
                "foreignamount",
                "debitforeignamount",
                "creditforeignamount",
                "memo",
                "entity",
            ),
            "The debit and credit lines of each posting, by account, in the posting's currency.",
            modified="lastmodifieddate",  # the parent transaction's
        ),
        TableSpec(
            "previoustransactionlinelink",
            ("previousdoc", "previousline", "nextdoc", "nextline", "linktype", "foreignamount"),
            "Which payment or credit was applied to which invoice, and for how much.",
        ),
    ]
}

#: The key columns of tables without a single `id`.
LINK_KEY = ("previousdoc", "previousline", "nextdoc", "nextline")

#: The extra column the line query selects to carry its transaction's stamp (not landed).
LINE_STAMP = "q2c_txn_modified"


def suiteql_string(value: str) -> str:
    """A SuiteQL (Oracle SQL) string literal: quotes doubled, NUL refused; every value from
    data goes into a query through this, never by concatenation."""
    text = str(value)
    if "\x00" in text:
        raise ValueError("a SuiteQL string cannot hold a NUL character")
    return "'" + text.replace("'", "''") + "'"


def suiteql_timestamp(value: datetime) -> str:
    """A SuiteQL literal: `TO_TIMESTAMP('2026-10-01 12:00:00', 'YYYY-MM-DD HH24:MI:SS')`."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"TO_TIMESTAMP({suiteql_string(text)}, 'YYYY-MM-DD HH24:MI:SS')"


#: SuiteQL answers a plain date or timestamp column in the account's date preference, date
#: only (`10/5/2026`, `5.10.2026`); TO_CHAR makes the answer independent of preferences.
DATE_FORMAT = "YYYY-MM-DD"
TIMESTAMP_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS'


def select_column(column: str, qualifier: str = "", alias: str | None = None) -> str:
    """One column of a select list: dates and timestamps through `TO_CHAR` (ISO text, time
    kept), under their own name (or `alias`)."""
    ref = f"{qualifier}.{column}" if qualifier else column
    fmt = (
        DATE_FORMAT
        if column in DATE_COLUMNS
        else TIMESTAMP_FORMAT
        if column in TIMESTAMP_COLUMNS
        else None
    )
    if fmt is None:
        return f"{ref} AS {alias}" if alias else ref
    return f"TO_CHAR({ref}, '{fmt}') AS {alias or column}"


def contract_columns(table: str) -> tuple[str, ...]:
    """The company's own link columns the contract names for `table` (a custom body field
    such as `custbody_stripe_id` holding the billing id) that the table's columns lack."""
    from q2c.policy.loader import load_contract

    erp = load_contract().mapping.links.erp
    wanted = {"transaction": (erp.transaction_field,), "customer": (erp.customer_field,)}
    known = TABLES[table].columns if table in TABLES else ()
    return tuple(c for c in wanted.get(table, ()) if c not in known)


def build_query(
    spec: TableSpec,
    *,
    since: datetime | None = None,
    min_id: int | None = None,
    extra: Sequence[str] | None = None,
) -> str:
    """The SuiteQL that reads `spec` (from `since`, or from `min_id` for a full read restart).

    Args:
        spec: the table.
        since: inclusive lower bound on the cursor column (incremental tables).
        min_id: inclusive lower bound on `id` (full reads restarting past the 100,000 window).
        extra: more columns to land (default: the contract's link columns for the table,
            `contract_columns`); normalize_record keeps them.
    """
    extra = contract_columns(spec.name) if extra is None else tuple(extra)
    if spec.name == "transactionline":
        cols = ", ".join(select_column(c, "tl") for c in spec.columns)
        stamp = select_column("lastmodifieddate", "t", LINE_STAMP)
        sql = (
            f"SELECT {cols}, {stamp}"
            " FROM transactionline tl INNER JOIN transaction t ON t.id = tl.transaction"
        )
        if since is not None:
            sql += f" WHERE t.lastmodifieddate >= {suiteql_timestamp(since)}"
        return sql + " ORDER BY t.lastmodifieddate, tl.transaction, tl.id"
    columns = (*spec.columns, *extra)
    sql = f"SELECT {', '.join(select_column(c) for c in columns)} FROM {spec.name}"
    if spec.modified:
        if since is not None:
            sql += f" WHERE {spec.modified} >= {suiteql_timestamp(since)}"
        return sql + f" ORDER BY {spec.modified}, id"
    if spec.name == "previoustransactionlinelink":
        if min_id is not None:
            sql += f" WHERE previousdoc >= {int(min_id)}"
        return sql + f" ORDER BY {', '.join(LINK_KEY)}"
    if min_id is not None:
        sql += f" WHERE id >= {int(min_id)}"
    return sql + " ORDER BY id"


def object_id(spec: TableSpec, row: Mapping[str, Any]) -> str:
    """The landing `object_id` of a normalized row (`<transaction>:<id>` for lines)."""
    if spec.name == "transactionline":
        return f"{row['transaction']}:{row['id']}"
    if spec.name == "previoustransactionlinelink":
        return ":".join(str(row[k]) for k in LINK_KEY)
    return str(row["id"])
