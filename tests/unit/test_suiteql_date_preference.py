"""SuiteQL dates: the stand-in answers a plain date or timestamp column in the account's date
preference (date only), `TO_CHAR` gives ISO text with the time, and the extractor selects every
date and timestamp through `TO_CHAR` so what lands does not depend on preferences."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from extractors.erp.normalize import DATE_COLUMNS, TIMESTAMP_COLUMNS
from extractors.erp.tables import TABLES, build_query
from sandbox.erp import auth, suiteql
from sandbox.erp.app import create_app
from tests.support.sandbox import build_tiny_erp_world

pytestmark = pytest.mark.unit

Q_PLAIN = "SELECT id, trandate, lastmodifieddate FROM transaction ORDER BY id"
Q_TO_CHAR = (
    "SELECT id, TO_CHAR(trandate, 'YYYY-MM-DD') AS trandate,"
    " TO_CHAR(lastmodifieddate, 'YYYY-MM-DD\"T\"HH24:MI:SS') AS lastmodifieddate"
    " FROM transaction ORDER BY id"
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_erp_world(tmp_path_factory.mktemp("dates"), customers=3, invoices=5)


def first_item(world: Path, q: str, **app_args: str) -> dict[str, str]:
    with TestClient(create_app(world, **app_args)) as client:
        answer = client.post(
            "/services/rest/query/v1/suiteql?limit=1",
            json={"q": q},
            headers={"Authorization": f"Bearer {auth.ERP_TOKEN}", "Prefer": "transient"},
        )
    assert answer.status_code == 200, answer.text
    return answer.json()["items"][0]


def stored(world: Path) -> tuple[str, str]:
    con = sqlite3.connect(world / "erp.sqlite")
    try:
        return con.execute(
            'SELECT trandate, lastmodifieddate FROM "transaction" ORDER BY id LIMIT 1'
        ).fetchone()
    finally:
        con.close()


@pytest.mark.parametrize(
    ("preference", "shape"),
    [("M/D/YYYY", "{m}/{d}/{y}"), ("D.M.YYYY", "{d}.{m}.{y}"), ("YYYY-MM-DD", "{y}-{mm}-{dd}")],
)
def test_a_plain_date_column_answers_in_the_preference_and_a_timestamp_loses_its_time(
    world: Path, preference: str, shape: str
) -> None:
    trandate, modified = stored(world)
    item = first_item(world, Q_PLAIN, date_format=preference)

    def expect(iso: str) -> str:
        y, mm, dd = iso[:10].split("-")
        return shape.format(y=y, mm=mm, dd=dd, m=int(mm), d=int(dd))

    assert item["trandate"] == expect(trandate)
    assert item["lastmodifieddate"] == expect(modified)


def test_the_default_preference_is_a_us_accounts() -> None:
    assert suiteql.format_preference("2026-10-05T14:03:00Z", suiteql.DEFAULT_DATE_FORMAT) == (
        "10/5/2026"
    )


def test_to_char_answers_iso_text_with_the_time_whatever_the_preference(world: Path) -> None:
    trandate, modified = stored(world)
    item = first_item(world, Q_TO_CHAR, date_format="D.M.YYYY")
    assert item["trandate"] == trandate
    assert item["lastmodifieddate"] == modified.removesuffix("Z")


def test_an_unknown_preference_element_is_refused() -> None:
    with pytest.raises(suiteql.SuiteQLError, match="date format preference"):
        suiteql.check_date_format("D.M.YY hh")


def test_the_extractor_selects_every_date_and_timestamp_through_to_char() -> None:
    for spec in TABLES.values():
        query = build_query(spec)
        for column in set(spec.columns) & (DATE_COLUMNS | TIMESTAMP_COLUMNS):
            fmt = "YYYY-MM-DD" if column in DATE_COLUMNS else 'YYYY-MM-DD"T"HH24:MI:SS'
            assert f"TO_CHAR({column}, '{fmt}') AS {column}" in query.replace("tl.", ""), (
                spec.name,
                column,
            )
        translated = suiteql.translate(query)
        assert not any(translated.column_kinds), spec.name  # nothing left to the preference


def test_a_custom_link_field_the_contract_names_is_selected_and_landed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from extractors.erp.normalize import normalize_record
    from extractors.erp.tables import contract_columns
    from q2c.policy.loader import REPO_CONTRACT

    text = REPO_CONTRACT.read_text().replace(
        "transaction_field: externalid", "transaction_field: custbody_stripe_id"
    )
    contract = tmp_path / "ownership.yml"
    contract.write_text(text)
    monkeypatch.setenv("Q2C_POLICY_FILE", str(contract))
    assert contract_columns("transaction") == ("custbody_stripe_id",)
    assert contract_columns("customer") == ()
    query = build_query(TABLES["transaction"])
    assert query.split(" FROM ")[0].endswith(", custbody_stripe_id")
    row = normalize_record(
        {"id": "7", "custbody_stripe_id": "in_1"}, (*TABLES["transaction"].columns,)
    )
    assert row["custbody_stripe_id"] == "in_1"
