"""PostgreSQL roles for the warehouse: `deploy/roles.sql` plus the grants that depend on data.

`apply_roles(wh, contract)` runs `deploy/roles.sql` (the four group roles and their schema
privileges) and then the grants that depend on what exists:
- `q2c_analyst` gets SELECT on each `marts` column whose name is not a key of a sensitivity
  class of the contract (PII, bank accounts, tax ids and documents) - nothing else anywhere;
- `q2c_finance` gets SELECT on the ops tables the period report reads.
dbt recreates its tables on each build (dropping their grants): once the roles exist,
`reapply_roles_if_present(wh, contract)` grants them again, and the dbt asset calls it after
every build on PostgreSQL (a warehouse without the roles is left as it is).
Embedded DuckDB has no roles: `apply_roles` refuses it with a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

ROLES_SQL = Path(__file__).resolve().parents[1] / "deploy" / "roles.sql"
ROLES = ("q2c_loader", "q2c_transformer", "q2c_analyst", "q2c_finance")
ANALYST_SCHEMA = "marts"
#: the ops tables the period report reads (q2c/reports); finance reads them, nothing else in ops
FINANCE_OPS_TABLES = (
    "gate_decisions",
    "export_ledger",
    "export_batches",
    "review_items",
    "compliance_holds",
)


class RolesWarehouse(Protocol):
    dialect: str

    def execute(self, sql: str, params: Any = None) -> int: ...

    def fetchall(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]: ...


@dataclass
class RolesReport:
    roles: tuple[str, ...] = ROLES
    analyst_columns: dict[str, list[str]] = field(default_factory=dict)
    withheld_columns: dict[str, list[str]] = field(default_factory=dict)
    finance_ops_tables: list[str] = field(default_factory=list)


def sensitive_column_names(contract: Any) -> frozenset[str]:
    """Lower-case column names that hold a sensitivity class's values (the classes' keys and
    the last segment of their listed fields)."""
    names: set[str] = set()
    for c in contract.sensitivity.classes.values():
        names.update(k.lower() for k in c.keys)
        for ref in c.fields:
            leaf = ref.split(":", 1)[-1].split(".")[-1].replace("[]", "")
            if leaf:
                names.add(leaf.lower())
    return frozenset(names)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def roles_present(wh: RolesWarehouse) -> bool:
    """Whether this warehouse is PostgreSQL and every q2c role has been created in it."""
    if wh.dialect != "postgres":
        return False
    marks = ", ".join("?" for _ in ROLES)
    rows = wh.fetchall(f"select count(*) from pg_roles where rolname in ({marks})", list(ROLES))
    return bool(rows) and rows[0][0] == len(ROLES)


def reapply_roles_if_present(wh: RolesWarehouse, contract: Any) -> RolesReport | None:
    """Grant the roles again where an operator has applied them (after a `dbt build`, which
    drops the grants of the tables it recreates); None when the warehouse has no q2c roles."""
    return apply_roles(wh, contract) if roles_present(wh) else None


def apply_roles(wh: RolesWarehouse, contract: Any, sql_path: Path = ROLES_SQL) -> RolesReport:
    """Create the roles and grant them (see the module doc); rerunnable."""
    if wh.dialect != "postgres":
        raise ValueError(
            "roles need PostgreSQL: embedded DuckDB is single-user and has no roles "
            "(anyone who can read the file reads everything)"
        )
    wh.execute(sql_path.read_text())
    report = RolesReport()
    sensitive = sensitive_column_names(contract)
    rows = wh.fetchall(
        "select table_name, column_name from information_schema.columns "
        "where table_schema = ? order by table_name, ordinal_position",
        [ANALYST_SCHEMA],
    )
    tables: dict[str, list[str]] = {}
    for table, column in rows:
        tables.setdefault(table, []).append(column)
    for table, columns in tables.items():
        relation = f"{_ident(ANALYST_SCHEMA)}.{_ident(table)}"
        wh.execute(f"revoke all on {relation} from q2c_analyst")
        allowed = [c for c in columns if c.lower() not in sensitive]
        withheld = [c for c in columns if c.lower() in sensitive]
        if allowed:
            cols = ", ".join(_ident(c) for c in allowed)
            wh.execute(f"grant select ({cols}) on {relation} to q2c_analyst")
        report.analyst_columns[table] = allowed
        if withheld:
            report.withheld_columns[table] = withheld
    existing = {
        r[0]
        for r in wh.fetchall(
            "select table_name from information_schema.tables where table_schema = 'ops'"
        )
    }
    for table in FINANCE_OPS_TABLES:
        if table in existing:
            wh.execute(f"grant select on ops.{_ident(table)} to q2c_finance")
            report.finance_ops_tables.append(table)
    return report
