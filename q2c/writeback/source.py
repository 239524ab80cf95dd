"""Reading a flow's payload rows (the dbt `sync_*` model) from the warehouse."""

from __future__ import annotations

from typing import Any

from q2c.warehouse import Warehouse
from q2c.writeback.model import FlowSpec


def sync_rows(wh: Warehouse, spec: FlowSpec) -> list[dict[str, Any]]:
    """Every row of the flow's sync model, as dicts (empty when the model is not built).

    Raises:
        ValueError: the model name is not `schema.table`.
    """
    schema, _, table = spec.sync_model.partition(".")
    if not table:
        raise ValueError(f"sync model must be schema.table, got {spec.sync_model!r}")
    if not wh.table_exists(schema, table):
        return []
    # both drivers' execute() return a cursor with `description`
    cur = wh.connection.execute(f"select * from {schema}.{table} order by 1")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
