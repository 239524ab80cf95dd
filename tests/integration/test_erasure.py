"""`q2c forget --customer <id>` on the S world in DuckDB: after it, nothing of the person is
found anywhere in the warehouse (raw payloads, quarantine, staging, snapshots, marts...) or in
the written report, the money is unchanged, and the audit trail records the erasure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from orchestration.cli import app
from q2c.erasure import customer_identifiers
from q2c.landing import quarantine
from q2c.warehouse import Warehouse
from tests.support.raw_from_world import built_warehouse

pytestmark = pytest.mark.integration

MONEY = (
    "select count(*), sum(total_amount), sum(amount_paid), string_agg(invoice_id, ',' order by"
    " invoice_id) from marts.fct_invoices where customer_id = ?"
)


def _everywhere(db: Path, needles: list[str]) -> list[str]:
    """Every `schema.table.column` of any table whose text holds one of `needles`."""
    found = []
    with duckdb.connect(str(db), read_only=True) as conn:
        columns = conn.execute(
            "select table_schema, table_name, column_name from information_schema.columns"
            " join information_schema.tables using (table_schema, table_name)"
            " where table_type = 'BASE TABLE' and table_schema <> 'main'"
        ).fetchall()
        for schema, table, column in columns:
            cond = " or ".join(f'contains(lower(cast("{column}" as varchar)), ?)' for _ in needles)
            hit = conn.execute(
                f'select 1 from "{schema}"."{table}" where {cond} limit 1',
                [n.lower() for n in needles],
            ).fetchone()
            if hit:
                found.append(f"{schema}.{table}.{column}")
    return found


@pytest.fixture(scope="module")
def warehouse(world_s: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("erasure")
    built = root / "built.duckdb"
    built_warehouse(world_s, f"duckdb:///{built}", root / "dbt")
    db = root / "warehouse.duckdb"
    shutil.copy(built, db)
    return db


def test_forget_leaves_nothing_of_the_person_and_keeps_the_money(
    warehouse: Path, tmp_path: Path
) -> None:
    url = f"duckdb:///{warehouse}"
    with Warehouse.from_url(url) as wh:
        (customer_id,) = wh.fetchone(
            "select c.object_id from raw.billing__customer c"
            " join raw.billing__invoice i on json_extract_string(i.payload, '$.customer')"
            " = c.object_id where json_extract_string(c.payload, '$.email') is not null"
            " and json_extract_string(c.payload, '$.name') is not null"
            " group by 1 order by count(*) desc, 1 limit 1"
        )
        identifiers = sorted(customer_identifiers(wh, customer_id))
        (payload,) = wh.fetchone(
            "select cast(payload as varchar) from raw.billing__customer where object_id = ?",
            [customer_id],
        )
        # a malformed page that held the person is kept in quarantine, as the extract would
        # under a contract that keeps the raw text exactly (`sensitivity.quarantine.keep_raw`)
        quarantine(wh, "billing", "customer", "test: page would not parse", payload[:-1],
                   run_id="test", keep_raw="exact")  # fmt: skip
        money_before = wh.fetchone(MONEY, [customer_id])
    name = json.loads(payload)["name"]
    email = json.loads(payload)["email"]
    assert name in identifiers and email in identifiers
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "period.html").write_text(f"<td>{name}</td><td>{email}</td><td>EUR 10.00</td>")
    before = _everywhere(warehouse, identifiers)
    assert {"raw.billing__customer.payload", "ops.quarantine.raw"} <= set(before)
    # the S world's CRM and ERP copies of the customer are found too (staging keeps no PII)
    assert {"raw.erp__customer.payload", "raw.salesforce__account.payload"} <= set(before)

    env = {"Q2C_WAREHOUSE_URL": url, "Q2C_HOME": str(tmp_path / "home")}
    args = ["forget", "--customer", customer_id, "--report-dir", str(reports), "--json"]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["complete"] and out["remaining"] == []
    assert out["raw_rows"] > 0 and out["quarantine_rows"] == 1
    assert out["report_files"] == 1
    assert name not in result.output and email not in result.output

    assert _everywhere(warehouse, identifiers) == []
    html = (reports / "period.html").read_text()
    assert name not in html and email not in html and "EUR 10.00" in html
    with Warehouse.from_url(url) as wh:
        assert wh.fetchone(MONEY, [customer_id]) == money_before
        assert (
            wh.fetchone(
                "select count(*) from raw.billing__customer where object_id = ?", [customer_id]
            )[0]
            >= 1
        )
        (after,) = wh.fetchone(
            "select cast(payload as varchar) from raw.billing__customer where object_id = ?",
            [customer_id],
        )
        erased = wh.fetchall(
            "select object_id, result, detail from ops.audit_trail where action = 'erased'"
        )
    # every classified value of the person's own record is gone, short ones too (postal code)
    address = json.loads(payload)["address"] or {}
    for key in ("postal_code", "line1"):
        if address.get(key):
            assert json.loads(after)["address"][key] == "[erased]"
    assert json.loads(after)["id"] == customer_id
    assert [(e[0], e[1]) for e in erased] == [(customer_id, "complete")]
    assert name not in erased[0][2] and email not in erased[0][2]

    again = CliRunner().invoke(app, args, env=env)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["identifiers"] == 0
    unknown = CliRunner().invoke(app, ["forget", "--customer", "cus_nobody"], env=env)
    assert unknown.exit_code == 1


@pytest.mark.postgres
def test_forget_on_postgres(world_s: Path, postgres_db: str, tmp_path: Path) -> None:
    built_warehouse(world_s, postgres_db, tmp_path / "dbt")
    with Warehouse.from_url(postgres_db) as wh:
        (customer_id,) = wh.fetchone(
            "select object_id from raw.billing__customer where payload->>'email' is not null"
            " and payload->>'name' is not null order by object_id limit 1"
        )
        identifiers = sorted(customer_identifiers(wh, customer_id))
        money_before = wh.fetchone(MONEY, [customer_id])
    assert identifiers
    env = {"Q2C_WAREHOUSE_URL": postgres_db, "Q2C_HOME": str(tmp_path / "home")}
    result = CliRunner().invoke(app, ["forget", "--customer", customer_id, "--json"], env=env)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["complete"] and out["raw_rows"] > 0
    with Warehouse.from_url(postgres_db) as wh:
        assert wh.fetchone(MONEY, [customer_id]) == money_before
        columns = wh.fetchall(
            "select c.table_schema, c.table_name, c.column_name from information_schema.columns c"
            " join information_schema.tables t using (table_schema, table_name)"
            " where t.table_type = 'BASE TABLE'"
            " and c.table_schema not in ('pg_catalog', 'information_schema')"
        )
        for schema, table, column in columns:
            for value in identifiers:
                hit = wh.fetchone(
                    f'select 1 from "{schema}"."{table}"'
                    f' where position(? in cast("{column}" as text)) > 0 limit 1',
                    [value],
                )
                assert hit is None, f"{schema}.{table}.{column} still holds an identifier"
        assert wh.fetchone(
            "select count(*) from ops.audit_trail where action = 'erased' and object_id = ?",
            [customer_id],
        ) == (1,)
