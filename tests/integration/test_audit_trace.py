"""`q2c.audit.trace` over a real DuckDB warehouse: landed raw versions, audit events and the ERP
export ledger are chained from any one id (the billing id finds its journal entry)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from q2c.audit import AuditEvent, record_events, trace
from q2c.exports.ledger import ensure_tables
from q2c.landing import RawRecord, land_page
from q2c.warehouse import Warehouse

pytestmark = pytest.mark.integration


def test_an_exported_invoice_is_traced_from_landing_to_the_erp_ledger(tmp_path: Path) -> None:
    with Warehouse.from_url(f"duckdb:///{tmp_path / 'wh.duckdb'}") as wh:
        land_page(wh, "billing", "invoice", [RawRecord("in_123", "evt_1", {"id": "in_123"})],
                  run_id="land-1")  # fmt: skip
        ensure_tables(wh)
        wh.execute(
            "insert into ops.export_ledger values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ["k1", "q2c-invoice-in_123", "b1", "h", "posted", "9001", None, None,
             datetime.now(UTC), "export-1"],
        )  # fmt: skip
        record_events(wh, [AuditEvent("exported", "export-1", "q2c:export", source_ref="in_123",
                                      object_type="invoice", object_id="in_123",
                                      target_system="erp", target_id="9001")])  # fmt: skip
        chain = trace(wh, "in_123")
        assert [r["table"] for r in chain.landed] == ["raw.billing__invoice"]
        assert [e["action"] for e in chain.audit] == ["exported"]
        assert chain.exported[0]["erp_transaction_id"] == "9001"
        # and from the ERP's side: its transaction id leads back to the invoice
        back = trace(wh, "9001")
        assert "in_123" in back.ids and back.landed and back.exported
        assert not trace(wh, "in_nothing").found
