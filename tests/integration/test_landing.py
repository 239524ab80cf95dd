"""The landing API on real DuckDB files and a real PostgreSQL 15: dedupe, cursors, crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from q2c.landing import RawRecord, get_cursor, land_page, payload_hash, quarantine
from q2c.warehouse import Warehouse

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'wh.duckdb'}"
    return request.getfixturevalue("postgres_db")


@pytest.fixture
def wh(warehouse_url: str) -> Iterator[Warehouse]:
    with Warehouse.from_url(warehouse_url) as w:
        yield w


def _invoices(n: int, status: str = "open") -> list[RawRecord]:
    return [
        RawRecord(
            f"in_{i:04d}",
            f"evt_{i}",
            {
                "id": f"in_{i:04d}",
                "object": "invoice",
                "amount_due": 1000 + i,
                "currency": "usd",
                "status": status,
            },
        )
        for i in range(n)
    ]


def _rows(wh: Warehouse, table: str) -> list[tuple]:
    return wh.fetchall(
        f"select object_id, provider_ref, payload_hash, is_deleted, run_id from raw.{table}"
        " order by object_id, payload_hash"
    )


def test_land_page_stores_every_new_record_with_its_hash_and_run(wh: Warehouse) -> None:
    records = _invoices(3)
    result = land_page(wh, "billing", "invoice", records, run_id="run-1", cursor="100")
    assert (result.landed, result.duplicates) == (3, 0)
    rows = _rows(wh, "billing__invoice")
    assert [r[0] for r in rows] == ["in_0000", "in_0001", "in_0002"]
    assert rows[1][2] == payload_hash(records[1].payload)
    assert {r[4] for r in rows} == {"run-1"}
    assert get_cursor(wh, "billing", "invoice") == "100"


def test_payload_round_trips_as_json_with_integer_amounts(wh: Warehouse) -> None:
    land_page(wh, "billing", "invoice", _invoices(1), run_id="r")
    (payload,) = wh.fetchone("select payload from raw.billing__invoice")
    doc = json.loads(payload) if isinstance(payload, str) else payload
    assert doc["amount_due"] == 1000 and isinstance(doc["amount_due"], int)


def test_relanding_an_identical_page_stores_nothing(wh: Warehouse) -> None:
    land_page(wh, "billing", "invoice", _invoices(5), run_id="run-1")
    again = land_page(wh, "billing", "invoice", _invoices(5), run_id="run-2")
    assert (again.landed, again.duplicates) == (0, 5)
    assert len(_rows(wh, "billing__invoice")) == 5


def test_a_changed_payload_is_appended_next_to_the_old_version(wh: Warehouse) -> None:
    land_page(wh, "billing", "invoice", _invoices(2, "draft"), run_id="run-1")
    result = land_page(wh, "billing", "invoice", _invoices(2, "open"), run_id="run-2")
    assert result.landed == 2
    assert len(_rows(wh, "billing__invoice")) == 4


def test_an_object_that_changes_back_lands_its_old_version_again(wh: Warehouse) -> None:
    """A -> B -> A: the third landing is new (the latest stored version is B), a fourth is not."""
    for run, status in (("run-1", "draft"), ("run-2", "open"), ("run-3", "draft")):
        result = land_page(wh, "billing", "invoice", _invoices(1, status), run_id=run)
        assert (result.landed, result.duplicates) == (1, 0), run
    again = land_page(wh, "billing", "invoice", _invoices(1, "draft"), run_id="run-4")
    assert (again.landed, again.duplicates) == (0, 1)
    latest = wh.fetchone(
        "select run_id, payload_hash from raw.billing__invoice"
        " order by extracted_at desc, provider_ref desc nulls last, payload_hash desc limit 1"
    )
    assert latest == ("run-3", payload_hash(_invoices(1, "draft")[0].payload))


def test_a_repeated_record_within_one_page_is_stored_once(wh: Warehouse) -> None:
    page = _invoices(2) + _invoices(1)
    result = land_page(wh, "billing", "invoice", page, run_id="run-1")
    assert (result.landed, result.duplicates) == (2, 1)


@pytest.mark.postgres
def test_concurrent_landers_store_no_version_twice_in_a_row(postgres_db: str) -> None:
    """Four connections land the same changing pages at once (PostgreSQL; DuckDB has one writer).

    Without the per-table lock two landers could both see B as the latest version and both
    append A; in the stored history, ordered as staging orders it, no version may follow itself.
    """
    from concurrent.futures import ThreadPoolExecutor

    def land(worker: int) -> int:
        stored = 0
        with Warehouse.from_url(postgres_db) as w:
            for status in ("draft", "open", "paid") * 3:
                page = _invoices(40, status)
                stored += land_page(w, "billing", "invoice", page, run_id=f"w{worker}").landed
        return stored

    with ThreadPoolExecutor(max_workers=4) as pool:
        total = sum(pool.map(land, range(4)))
    with Warehouse.from_url(postgres_db) as w:
        (rows,) = w.fetchone("select count(*) from raw.billing__invoice")
        (repeats,) = w.fetchone(
            "select count(*) from (select payload_hash, lag(payload_hash) over"
            " (partition by object_id order by extracted_at, provider_ref, payload_hash)"
            " as previous from raw.billing__invoice) v where payload_hash = previous"
        )
    assert total == rows >= 40 * 9
    assert repeats == 0


def test_a_tombstone_is_stored_as_a_deletion(wh: Warehouse) -> None:
    land_page(wh, "billing", "customer", [RawRecord("cus_1", None, {"id": "cus_1"})], run_id="r")
    tomb = RawRecord(
        "cus_1", "evt_9", {"id": "cus_1", "object": "customer", "deleted": True}, is_deleted=True
    )
    assert land_page(wh, "billing", "customer", [tomb], run_id="r").landed == 1
    rows = wh.fetchall("select is_deleted from raw.billing__customer order by is_deleted")
    assert [r[0] for r in rows] == [False, True]


def test_an_empty_page_only_moves_the_cursor(wh: Warehouse) -> None:
    land_page(wh, "billing", "event", [], run_id="r", cursor="1700000000:evt_1")
    assert get_cursor(wh, "billing", "event") == "1700000000:evt_1"
    assert wh.fetchone("select count(*) from raw.billing__event")[0] == 0


def test_get_cursor_is_none_before_the_first_landing(wh: Warehouse) -> None:
    assert get_cursor(wh, "billing", "charge") is None


def test_the_cursor_is_per_source_and_object(wh: Warehouse) -> None:
    land_page(wh, "billing", "charge", [], run_id="r", cursor="5")
    land_page(wh, "billing", "refund", [], run_id="r", cursor="7")
    land_page(wh, "billing", "charge", [], run_id="r", cursor="9")
    assert get_cursor(wh, "billing", "charge") == "9"
    assert get_cursor(wh, "billing", "refund") == "7"


def test_a_failure_inside_the_transaction_leaves_rows_and_cursor_as_they_were(
    wh: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    land_page(wh, "billing", "invoice", _invoices(1), run_id="r", cursor="1")
    import q2c.landing as landing

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full while writing the cursor")

    monkeypatch.setattr(landing, "_set_cursor", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        land_page(wh, "billing", "invoice", _invoices(4), run_id="r", cursor="2")
    monkeypatch.undo()
    assert get_cursor(wh, "billing", "invoice") == "1"
    assert len(_rows(wh, "billing__invoice")) == 1


def test_quarantine_keeps_reason_text_and_exact_bytes(wh: Warehouse) -> None:
    for reason, raw in (("missing id", b'{"object":"invoice"\xff'),
                        ("wrong object type", '{"object":"charge"}')):  # fmt: skip
        quarantine(wh, "billing", "invoice", reason, raw, run_id="r", keep_raw="exact")
    rows = wh.fetchall("select reason, raw, raw_bytes from ops.quarantine order by reason")
    assert rows[0][0] == "missing id"
    assert bytes(rows[0][2]) == b'{"object":"invoice"\xff'
    assert "\\xff" in rows[0][1]
    assert rows[1][1] == '{"object":"charge"}'


PERSON = {"id": "cus_Q1", "object": "customer", "email": "jane.roe@example.org",
          "name": "Jane Roe", "phone": "+49 30 1234-5678",
          "description": "VAT DE123456789"}  # fmt: skip
SECRETS = ("jane.roe@example.org", "Jane Roe", "1234-5678", "DE123456789")


def test_quarantine_masks_the_raw_text_by_default(wh: Warehouse) -> None:
    """The shipped contract's rule (`masked`): no more PII than a dead letter; the id stays (the
    data-quality findings name the record by it) and the original's sha256 and length too."""
    whole = json.dumps(PERSON)
    quarantine(wh, "billing", "customer", f"bad field in {whole[:60]}", whole, run_id="r")
    # a truncated page does not parse: the string members under sensitive keys still go
    quarantine(wh, "billing", "customer", "page would not parse", whole[:-1], run_id="r")
    rows = wh.fetchall("select reason, raw, raw_bytes, raw_sha256, raw_length from ops.quarantine")
    assert len(rows) == 2
    for reason, raw, raw_bytes, sha, length in rows:
        kept = f"{reason} {raw} {bytes(raw_bytes).decode()}"
        assert not [s for s in SECRETS if s in kept], kept
        assert '"id": "cus_Q1"' in raw or '"id":"cus_Q1"' in raw.replace(" ", "")
        assert len(sha) == 64 and length in (len(whole), len(whole) - 1)


def test_quarantine_keeps_no_raw_text_under_none(wh: Warehouse) -> None:
    quarantine(wh, "billing", "customer", "r", json.dumps(PERSON), run_id="r", keep_raw="none")
    assert wh.fetchall("select raw, raw_bytes, raw_length from ops.quarantine") == [
        (None, None, len(json.dumps(PERSON)))
    ]


def test_sigkill_between_insert_and_commit_leaves_cursor_where_the_data_is(
    warehouse_url: str,
) -> None:
    with Warehouse.from_url(warehouse_url) as wh:
        land_page(wh, "billing", "invoice", _invoices(2), run_id="r1", cursor="10")
    script = textwrap.dedent(
        f"""
        import os, signal
        from q2c.landing import RawRecord, land_page
        from q2c.warehouse import Warehouse

        def die(self):
            os.kill(os.getpid(), signal.SIGKILL)

        Warehouse._commit = die  # the rows and the cursor are written, the COMMIT never runs
        wh = Warehouse.from_url({warehouse_url!r})
        recs = [RawRecord(f"in_x{{i}}", None, {{"id": f"in_x{{i}}"}}) for i in range(50)]
        land_page(wh, "billing", "invoice", recs, run_id="r2", cursor="99")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    with Warehouse.from_url(warehouse_url) as wh:
        assert get_cursor(wh, "billing", "invoice") == "10"
        assert wh.fetchone("select count(*) from raw.billing__invoice")[0] == 2
        again = land_page(wh, "billing", "invoice", _invoices(2), run_id="r3", cursor="10")
        assert again.landed == 0


def test_schemas_raw_and_ops_are_created_on_demand(wh: Warehouse) -> None:
    land_page(
        wh, "erp", "transaction_line", [RawRecord("12:3", "2026-10-01", {"id": "3"})], run_id="r"
    )
    assert wh.table_exists("raw", "erp__transaction_line")
    assert wh.table_exists("ops", "cursors")
    assert wh.table_exists("ops", "quarantine")
