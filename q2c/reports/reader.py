"""Read-only access to the warehouse for the report: which tables and columns exist, and rows
as dicts with the warehouse's exact types normalized (Decimal for numerics, int for counts).

The report adapts to what the warehouse holds: tables other parts of q2c create at run time
(`ops.gate_decisions`, `ops.export_ledger`, `reconciliation.dq_findings`, ...) may be absent,
and a section built on one says so instead of showing a number it does not have.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Protocol


class WarehouseLike(Protocol):
    """What the report needs of `q2c.warehouse.Warehouse`."""

    dialect: str

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]: ...


class WarehouseReader:
    def __init__(self, warehouse: WarehouseLike) -> None:
        self.warehouse = warehouse
        self._columns: dict[tuple[str, str], list[str]] = {}

    @property
    def dialect(self) -> str:
        return self.warehouse.dialect

    def columns(self, schema: str, table: str) -> list[str]:
        """The table's columns in order; empty when the table does not exist."""
        key = (schema, table)
        if key not in self._columns:
            rows = self.warehouse.fetchall(
                "select column_name from information_schema.columns"
                " where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table],
            )
            self._columns[key] = [str(r[0]) for r in rows]
        return self._columns[key]

    def has(self, schema: str, table: str, *columns: str) -> bool:
        """True when `schema.table` exists and has every one of `columns`."""
        present = self.columns(schema, table)
        return bool(present) and all(c in present for c in columns)

    def rows(
        self,
        sql: str,
        names: Sequence[str],
        params: Sequence[Any] | None = None,
        *,
        order: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """Run `sql` (its select list in the order of `names`) and return dicts, sorted by the
        `order` keys (`-key`: descending; nulls first). Sorted here, not with SQL `order by`:
        PostgreSQL orders text by its locale's collation and DuckDB by bytes, and the report
        must read the same on both."""
        out = []
        for row in self.warehouse.fetchall(sql, list(params or [])):
            if len(row) != len(names):
                raise ValueError(f"query returned {len(row)} columns, expected {list(names)}")
            out.append({n: normalize(v) for n, v in zip(names, row, strict=True)})
        for key in reversed(order):
            name = key.lstrip("-")
            out.sort(key=lambda r: (r[name] is not None, r[name] or 0), reverse=key[0] == "-")
        return out


def normalize(value: Any) -> Any:
    """DuckDB sums of integers are HUGEINT (int) and Postgres's are numeric (Decimal with no
    fraction): both become int; other numerics stay Decimal. Floats are refused: the
    warehouse's money is exact (tests/integration/test_dbt_money_types.py)."""
    if isinstance(value, float):
        raise TypeError(f"floating-point value {value!r} read from the warehouse")
    if isinstance(value, Decimal) and value.as_tuple().exponent == 0:
        return int(value)
    return value
