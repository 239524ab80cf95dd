"""`dbt build` of the S world on DuckDB (shared per session): green; exports leave out whole
entries already exported and name real billing objects; no PII value of the world reaches any
dbt table (as a value, a word, or inside free text); and every column holding a sensitive field
is treated as the contract's sensitivity says for its schema's channel."""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import duckdb
import pytest

from tests.support.raw_from_world import built_warehouse, run_dbt, run_unit_tests

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def s_build(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.getbasetemp() / "dbt_s_duckdb"
    db = root / "warehouse.duckdb"
    _, output = built_warehouse(world_s, f"duckdb:///{db}", root / "dbt")
    return db, output


def test_build_runs_every_model_test_and_snapshot_without_error(s_build: tuple[Path, str]) -> None:
    db, output = s_build
    assert "ERROR=0" in output and "SKIP=0" in output
    con = duckdb.connect(str(db), read_only=True)
    try:
        invoices = con.execute("select count(*) from marts.fct_invoices").fetchone()[0]
        raw = con.execute("select count(distinct object_id) from raw.billing__invoice").fetchone()
        snapshots = con.execute(
            "select (select count(*) from snapshots.snap_subscription_states),"
            " (select count(*) from marts.fct_subscriptions),"
            " (select count(*) from snapshots.snap_crm_account_states),"
            " (select count(*) from staging.stg_salesforce__accounts)"
        ).fetchone()
    finally:
        con.close()
    assert invoices == raw[0] > 0
    # the first snapshot holds one current version of every row it reads
    assert snapshots[0] == snapshots[1] > 0 and snapshots[2] == snapshots[3] > 0


def test_every_dbt_unit_test_passes_on_duckdb(s_build: tuple[Path, str], tmp_path: Path) -> None:
    db = tmp_path / "copy.duckdb"
    shutil.copy(s_build[0], db)
    run_unit_tests(f"duckdb:///{db}", tmp_path / "dbt")


def test_export_leaves_out_whole_entries_already_in_the_export_ledger(
    s_build: tuple[Path, str], tmp_path: Path
) -> None:
    """An entry the ERP accepted (ledger status posted or already_posted) is left out whole;
    one it rejected goes out again with all its lines, balanced (q2c/exports resends it once its
    content changed); every other entry goes out whole."""
    db = tmp_path / "copy.duckdb"
    shutil.copy(s_build[0], db)
    con = duckdb.connect(str(db))
    try:
        lines = con.execute(
            "select line_external_id, external_id, source_ref, debit_minor, credit_minor"
            " from exports.export_erp_journal_lines order by line_external_id"
        ).fetchall()
        assert lines, "the S world has billing activity the ERP lacks: there must be lines"
        entries: dict[str, list[tuple]] = {}
        for line in lines:
            entries.setdefault(line[1], []).append(line)
        multi = [e for e, ls in entries.items() if len(ls) > 1]
        posted, already, rejected = multi[0], multi[1], multi[2]
        con.executemany(
            "insert into ops.export_ledger values (?, ?, 'b-1', 'h', ?, null, ?, null, now(), 'r')",
            [
                (f"k-{posted}", posted, "posted", None),
                (f"k-{already}", already, "already_posted", None),
                (f"k-{rejected}", rejected, "rejected", "INVALID_KEY_OR_REF"),
            ],
        )
    finally:
        con.close()
    run_dbt(["build", "--select", "export_erp_journal_lines"], f"duckdb:///{db}", tmp_path / "dbt")
    con = duckdb.connect(str(db), read_only=True)
    try:
        after = con.execute(
            "select external_id, sum(debit_minor), sum(credit_minor), count(*)"
            " from exports.export_erp_journal_lines group by external_id"
        ).fetchall()
    finally:
        con.close()
    left = {e: (d, c, n) for e, d, c, n in after}
    assert set(left) == set(entries) - {posted, already}
    for entry, (debits, credits, n) in left.items():
        assert (debits, credits, n) == (
            sum(r[3] for r in entries[entry]),
            sum(r[4] for r in entries[entry]),
            len(entries[entry]),
        )
        assert debits == credits


def test_export_source_refs_name_real_billing_objects(s_build: tuple[Path, str]) -> None:
    """Each line names the billing object it comes from as `billing:<object>:<id>`, with
    Stripe's object names (a payment is a charge), and the ERP import's uppercase currency."""
    con = duckdb.connect(str(s_build[0]), read_only=True)
    try:
        refs = con.execute(
            "select entry_kind, source_ref, billing_id, currency, currency_code"
            " from exports.export_erp_journal_lines"
        ).fetchall()
        known = {
            r[0]
            for r in con.execute(
                "select 'billing:invoice:' || invoice_id from staging.stg_billing__invoices"
                " union all select 'billing:charge:' || charge_id from staging.stg_billing__charges"
                " union all select 'billing:refund:' || refund_id from staging.stg_billing__refunds"
                " union all select 'billing:payout:' || payout_id from staging.stg_billing__payouts"
                " union all select 'billing:dispute:' || dispute_id"
                " from staging.stg_billing__disputes"
                " union all select 'billing:transfer:' || transfer_id"
                " from staging.stg_billing__transfers"
                " union all select 'billing:balance_transaction:' || balance_transaction_id"
                " from staging.stg_billing__balance_transactions"
            ).fetchall()
        }
    finally:
        con.close()
    objects = {"invoice": "invoice", "payment": "charge", "refund": "refund", "payout": "payout"}
    objects |= {"payout_reversal": "payout", "dispute": "dispute", "dispute_won": "dispute"}
    objects |= {"transfer": "transfer"}
    for kind, source_ref, billing_id, currency, currency_code in refs:
        if kind == "fee":  # keyed fee_<txn>, its source the payout's balance transaction txn
            assert source_ref == f"billing:balance_transaction:{billing_id[4:]}", source_ref
        else:
            assert source_ref == f"billing:{objects[kind]}:{billing_id}", source_ref
        assert source_ref in known
        assert currency == currency_code.upper() and currency.isupper()
    assert {kind for kind, *_ in refs} >= {"invoice", "payment", "payout", "dispute", "transfer"}


# ----------------------------------------------------------------------------- PII
# The contract's sensitivity (policy/ownership.yml, compiled to the seed policy__sensitivity,
# read here from the built warehouse) says per class and channel how a sensitive field is
# treated. The dbt schemas that feed a channel take its treatment: `exports` -> the exports
# channel, `sync` -> writeback (the CRM payloads). The others are the warehouse itself, which is
# not a channel of the contract, so each class's `default` treatment applies there.
CHANNEL_OF_SCHEMA = {"exports": "exports", "sync": "writeback"}
WAREHOUSE_SCHEMAS = ("staging", "intermediate", "marts", "reconciliation", "snapshots")
SCANNED_SCHEMAS = (*WAREHOUSE_SCHEMAS, "exports", "sync")
#: columns whose name is a sensitivity key but that hold something else (with the reason)
HOMONYMS = {
    ("staging", "stg_erp__accounts", "account_name"): "a GL account's name (chart of accounts)",
    ("staging", "stg_erp__accounts", "account_number"): "a GL account number, not a bank account",
}
#: a key this generic only names a sensitive column when it is the whole column name
#: (`period_name`, `stage_name` are not people)
WHOLE_NAME_ONLY = {"name"}
HASHED = re.compile(r"^h:[0-9a-f]+$")


def _snake(key: str) -> str:
    """`FirstName` -> `first_name`, `vatNumber` -> `vat_number`, `line1` -> `line1`."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower()


def _sensitive_class(column: str, keys: dict[str, str]) -> str | None:
    """The contract class of a column named for one of its keys or field names, else None."""
    squashed = column.replace("_", "")
    for key, cls in keys.items():
        if column == key or squashed == key.replace("_", ""):
            return cls
        if key not in WHOLE_NAME_ONLY and column.endswith("_" + key):
            return cls
    return None


def _treatments(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, str], dict[str, dict]]:
    """From the seed: key or field name (snake case) -> class, and class -> channel ->
    treatment (plus `default` from the contract, which the seed expands per channel)."""
    from q2c.policy.loader import default_contract

    keys: dict[str, str] = {}
    treatments: dict[str, dict[str, str]] = {}
    for cls, path, channel, treatment in con.execute(
        "select class, field_path, channel, treatment from policy.policy__sensitivity"
    ).fetchall():
        keys.setdefault(_snake(path.split(".")[-1]), cls)
        seen = treatments.setdefault(cls, {}).setdefault(channel, treatment)
        assert seen == treatment, f"{cls} has two treatments in {channel}"
    for cls, spec in default_contract().sensitivity.classes.items():
        treatments[cls]["default"] = spec.treatment["default"]
    return keys, treatments


def _pii_values(world: Path) -> set[str]:
    truth = sqlite3.connect(world / "truth.sqlite")
    try:
        return {v for (v,) in truth.execute("select value from pii") if v}
    finally:
        truth.close()


def _is_leak(value: str, text: str, free_text: bool) -> bool:
    """Does `text` reveal the PII `value`? Whole words always; inside free text (a column
    with whitespace in its values) any occurrence of a value of 4+ characters. Digits-only
    values (postal codes, account numbers) count when bounded by non-digits in free text, or
    as the whole value elsewhere (`JE-PO-20066-USD` names a date, not the postal code 20066)."""
    if value.isdigit():
        if free_text:
            return re.search(rf"(?<!\d){re.escape(value)}(?!\d)", text) is not None
        return text == value
    if re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text):
        return True
    return free_text and len(value) >= 4


def _pii_leaks(con: duckdb.DuckDBPyConnection, pii: set[str]) -> dict[str, list[str]]:
    """`schema.table.column` -> the PII values of the world found in it."""
    columns = con.execute(
        "select table_schema, table_name, column_name from information_schema.columns"
        f" where table_schema in {SCANNED_SCHEMAS} and data_type = 'VARCHAR'"
    ).fetchall()
    assert columns
    con.execute(
        "create temp table texts as select distinct * from ("
        + " union all ".join(
            f'select \'{s}.{t}.{c}\' as col, "{c}" as v from {s}.{t} where "{c}" is not null'
            for s, t, c in columns
        )
        + ")"
    )
    free = {
        col
        for (col,) in con.execute(
            "select col from texts group by col having bool_or(regexp_matches(v, '\\s'))"
        ).fetchall()
    }
    con.execute("create temp table pii(value varchar)")
    con.executemany("insert into pii values (?)", [(v,) for v in pii])
    # candidates by plain (case-sensitive) containment, then the word rules on each
    candidates = con.execute(
        "select texts.col, texts.v, pii.value from (select distinct v from texts) as distinct_texts"
        " inner join pii on contains(distinct_texts.v, pii.value)"
        " inner join texts on texts.v = distinct_texts.v"
    ).fetchall()
    leaks: dict[str, list[str]] = {}
    for col, text, value in candidates:
        if _is_leak(value, text, col in free):
            leaks.setdefault(col, []).append(value)
    return leaks


def test_is_leak_finds_values_inside_free_text_and_whole_words_elsewhere() -> None:
    assert _is_leak("Rossi", "call Mario Rossi back", free_text=True)
    assert _is_leak("Rossi", "note:Rossi'", free_text=False)
    assert _is_leak("Rossini", "RossiniCorp paid late", free_text=True)
    assert not _is_leak("Bush", "ch_3NBushq8", free_text=False)
    assert _is_leak("Lee", "ask Lee", free_text=True)
    assert not _is_leak("Lee", "Leeds office", free_text=True)
    assert _is_leak("20066", "moved to 20066 Milan", free_text=True)
    assert not _is_leak("20066", "JE-PO-20066-USD", free_text=False)
    assert _is_leak("20066", "20066", free_text=False)


@pytest.fixture(scope="module")
def pii_leaks(world_s: Path, s_build: tuple[Path, str]) -> dict[str, list[str]]:
    """The scan of every dbt text column for the world's PII values, once per module."""
    con = duckdb.connect(str(s_build[0]), read_only=True)
    try:
        return _pii_leaks(con, _pii_values(world_s))
    finally:
        con.close()


def test_no_pii_value_of_the_world_reaches_a_dbt_table(
    world_s: Path, pii_leaks: dict[str, list[str]]
) -> None:
    """No PII value of the world's truth table (names, emails, phones, addresses, tax ids, bank
    numbers) is in any text column of staging, intermediate, marts, reconciliation, snapshots,
    exports or sync: not as the value, not as a word, not inside free text."""
    pii = _pii_values(world_s)
    assert {len(v) for v in pii} & {3}, "the world has 3-letter names: whole-word matching runs"
    assert not pii_leaks, {col: len(values) for col, values in pii_leaks.items()}


def _treatment_violations(
    con: duckdb.DuckDBPyConnection, leaks: dict[str, list[str]], schemas: tuple[str, ...]
) -> tuple[list[str], list[str]]:
    """(columns checked, violations) of the contract's treatment in `schemas`."""
    from q2c.masking import mask_account_number
    from q2c.masking.treatments import REDACTED

    keys, treatments = _treatments(con)
    columns = con.execute(
        "select table_schema, table_name, column_name from information_schema.columns"
        f" where table_schema in {(*schemas, '')}"
    ).fetchall()
    checked, violations = [], []
    for schema, table, column in columns:
        cls = _sensitive_class(column, keys)
        if cls is None or (schema, table, column) in HOMONYMS:
            continue
        treatment = treatments[cls][CHANNEL_OF_SCHEMA.get(schema, "default")]
        where = f"{schema}.{table}.{column}"
        checked.append(where)
        values = [
            v
            for (v,) in con.execute(
                f'select distinct cast("{column}" as varchar) from {schema}.{table}'
                f' where "{column}" is not null'
            ).fetchall()
        ]
        if treatment == "drop":
            wrong = values or ["the column exists"]
        elif treatment == "hash":
            wrong = [v for v in values if not HASHED.match(v)]
        elif treatment == "redact":
            wrong = [v for v in values if v != REDACTED]
        elif treatment == "mask":
            wrong = [v for v in values if mask_account_number(v) != v]
        elif treatment == "scrub":
            wrong = leaks.get(where, [])
        else:
            assert treatment == "allow", treatment
            wrong = []
        if wrong:
            violations.append(f"{where}: {cls} is `{treatment}` there; {len(wrong)} values are not")
    return checked, violations


def test_sensitive_columns_of_published_schemas_are_treated_as_the_contract_says(
    s_build: tuple[Path, str], pii_leaks: dict[str, list[str]]
) -> None:
    """Every column of marts, reconciliation, snapshots, exports and sync named for a sensitive
    field or key of the contract holds it as the contract's treatment for that schema's channel
    says: dropped (no such column), hashed (`h:<hex>`), redacted (`[REDACTED]`), masked (at most
    first six and last four), scrubbed (free text without any PII value of the world) or
    allowed."""
    con = duckdb.connect(str(s_build[0]), read_only=True)
    try:
        checked, violations = _treatment_violations(
            con, pii_leaks, ("marts", "reconciliation", "snapshots", "exports", "sync")
        )
    finally:
        con.close()
    assert "exports.export_erp_journal_lines.memo" in checked  # free text, scrubbed in exports
    assert not violations, violations


def test_sensitive_columns_of_staging_and_intermediate_are_treated_as_the_contract_says(
    s_build: tuple[Path, str], pii_leaks: dict[str, list[str]]
) -> None:
    """The same rule in staging and intermediate, where the contract's default treatment of each
    class applies (the warehouse is not one of its channels): e.g. an ERP memo (free text,
    `erp:transaction.memo`) is redacted or left in raw, an ERP customer's entityid (a name,
    `erp:customer.entityid`) hashed or left in raw."""
    con = duckdb.connect(str(s_build[0]), read_only=True)
    try:
        keys, _ = _treatments(con)
        _, violations = _treatment_violations(con, pii_leaks, ("staging", "intermediate"))
    finally:
        con.close()
    # the seed's fields name these columns (dropping them from staging is a fix, not a skip)
    assert _sensitive_class("memo", keys) == "free_text"
    assert _sensitive_class("entity_id", keys) == "person_name"
    assert not violations, violations
