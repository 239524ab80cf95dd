"""Whether a whole-project `dbt build` can be left out: nothing it reads changed since the last.

A build is a pure function of the dbt project (models, macros, seeds, snapshots, tests,
`dbt_project.yml`, `profiles.yml`, the contract's dbt vars and policy seeds, the dbt and
adapter versions) and of the tables it reads. No model reads the clock (no `current_date`,
`now()`, `current_timestamp` or `run_started_at` in the project: the as-of moment is the newest
landing time, `int_warehouse__as_of`), so the date is not part of the key. The skip key is
therefore the sha256 of:
- `whole_project_digest`: every file of the project, the vars, the seeds and the versions;
- `relation_fingerprint` of every relation the project reads (`read_relations`): the dbt
  manifest's sources, plus what a model or macro of the project reads with
  `adapter.get_relation` (a literal `schema=`/`identifier=`, or a relation taken from
  `source()`); a call it cannot resolve means "cannot skip". The fingerprint is the row count
  and an order-independent sum of a hash of each row (DuckDB `hash`, PostgreSQL `md5`), over
  every column except a `payload` beside its own `payload_hash` (the landing tables: the hash
  stands for the document, and the erasure rewrites both). A missing relation counts as an
  empty one: the on-run-start hook creates the landing tables and the export ledger empty,
  and the models read the compliance holds and the quarantine "where they exist".
`ops.dbt_build_inputs` holds one row per whole build started (run, key, start time); a build
that succeeded gets `succeeded` and its dbt test results (each test's status and failure
count, replayed as the same asset check results when the build is left out). A build can be
left out only when the latest started build succeeded with the same key and every relation the
project builds is still there (`missing_relations`); the caller also never leaves out a full
refresh (requested or due, q2c/dbt_refresh.py). A build that failed or was killed leaves its
row unfinished, so the next run builds.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from q2c.dbt_refresh import hash_files
from q2c.warehouse import Warehouse

INPUTS_TABLE = "ops.dbt_build_inputs"
#: What `dbt build` reads under the project directory besides the seeds of the contract.
PROJECT_PATHS = (
    "dbt_project.yml",
    "profiles.yml",
    "packages.yml",
    "dependencies.yml",
    "models",
    "macros",
    "seeds",
    "snapshots",
    "tests",
    "analyses",
)
#: distributions whose version can change what dbt writes
DBT_DISTRIBUTIONS = ("dbt-core", "dbt-adapters", "dbt-duckdb", "dbt-postgres", "duckdb")

Relation = tuple[str, str]


def whole_project_digest(
    project_dir: Path, dbt_vars: Mapping[str, Any] | None, seeds_dir: Path | None = None
) -> str:
    """sha256 of every file of the project, the seeds the build loads (`seeds_dir`: another
    contract's compiled seeds), the dbt vars and the installed dbt/adapter versions."""
    digest = hashlib.sha256()
    hash_files(digest, project_dir, PROJECT_PATHS)
    if seeds_dir is not None:
        hash_files(digest, seeds_dir, (".",))
    digest.update(json.dumps(dict(dbt_vars or {}), sort_keys=True, default=str).encode())
    for name in DBT_DISTRIBUTIONS:
        try:
            digest.update(f"{name}=={metadata.version(name)}\0".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{name} absent\0".encode())
    return digest.hexdigest()


_GET_RELATION = re.compile(r"get_relation\s*\(")
_SOURCE_SET = re.compile(
    r"set\s+(?P<var>\w+)\s*=\s*source\(\s*['\"](?P<source>\w+)['\"]\s*,\s*['\"](?P<table>\w+)['\"]"
)


def _call_arguments(text: str) -> Iterator[str]:
    """The argument text of every `get_relation(...)` call in `text` (parentheses balanced;
    an unclosed call yields the rest of the text)."""
    for call in _GET_RELATION.finditer(text):
        depth, end = 1, call.end()
        while end < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            end += 1
        yield text[call.end() : end - 1 if not depth else end]


def _literal(args: str, name: str) -> str | None:
    match = re.search(rf"\b{name}\s*=\s*['\"]([^'\"]+)['\"]", args)
    return match.group(1) if match else None


def read_relations(manifest: Mapping[str, Any]) -> tuple[list[Relation], list[str]]:
    """What the project reads that it does not build: (relations, calls it cannot resolve).

    The relations are (schema, identifier) of every source of the manifest and of every
    `adapter.get_relation` call in a node or macro of the project itself (dbt's own macros
    look up the relations dbt builds)."""
    project = manifest.get("metadata", {}).get("project_name")
    sources = {
        (str(s["source_name"]), str(s["name"])): (str(s["schema"]), str(s["identifier"]))
        for s in manifest.get("sources", {}).values()
    }
    relations = set(sources.values())
    unresolved: list[str] = []
    code = [
        (uid, node.get("raw_code") or "")
        for uid, node in manifest.get("nodes", {}).items()
        if node.get("package_name") == project
    ]
    code += [
        (uid, macro.get("macro_sql") or "")
        for uid, macro in manifest.get("macros", {}).items()
        if macro.get("package_name") == project
    ]
    for uid, text in code:
        from_source = {
            m["var"]: sources.get((m["source"], m["table"])) for m in _SOURCE_SET.finditer(text)
        }
        for args in _call_arguments(text):
            if "(" in args:  # a computed name (`var('s')`): cannot tell which relation
                unresolved.append(uid)
                continue
            schema, identifier = _literal(args, "schema"), _literal(args, "identifier")
            if schema and identifier:
                relations.add((schema, identifier))
                continue
            via = [rel for var, rel in from_source.items() if re.search(rf"\b{var}\.", args)]
            if len(via) == 1 and via[0] is not None:
                relations.add(via[0])
            else:
                unresolved.append(uid)
    return sorted(relations), sorted(set(unresolved))


def built_relations(manifest: Mapping[str, Any]) -> list[Relation]:
    """(schema, name) of every model, seed and snapshot the project materializes in the
    warehouse (ephemeral models have none)."""
    out = set()
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") not in {"model", "seed", "snapshot"}:
            continue
        if node.get("config", {}).get("materialized") == "ephemeral":
            continue
        out.add((str(node["schema"]), str(node.get("alias") or node["name"])))
    return sorted(out)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _columns(wh: Warehouse, schema: str, table: str) -> list[str]:
    return [
        str(r[0])
        for r in wh.fetchall(
            "select column_name from information_schema.columns"
            " where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, table],
        )
    ]


def relation_fingerprint(wh: Warehouse, schema: str, table: str) -> str:
    """`<rows>:<sum of row hashes>` of `schema.table` ("0:0" when it does not exist)."""
    columns = _columns(wh, schema, table)
    if not columns:
        return "0:0"
    if "payload" in columns and "payload_hash" in columns:
        columns.remove("payload")
    cols = ", ".join(_quoted(c) for c in columns)
    if wh.dialect == "postgres":
        row_hash = f"('x' || substr(md5(row({cols})::text), 1, 15))::bit(60)::bigint"
    else:
        row_hash = f"hash({cols})"
    count, total = wh.fetchone(
        f"select count(*), cast(coalesce(sum({row_hash}), 0) as varchar)"
        f" from {_quoted(schema)}.{_quoted(table)}"
    ) or (0, "0")
    return f"{count}:{total}"


def skip_key(wh: Warehouse, project: str, reads: Iterable[Relation]) -> str:
    """sha256 of the project's digest and the fingerprint of every relation it reads."""
    digest = hashlib.sha256(f"{wh.dialect}\0{project}\0".encode())
    for schema, table in sorted(reads):
        digest.update(f"{schema}.{table}={relation_fingerprint(wh, schema, table)}\0".encode())
    return digest.hexdigest()


def missing_relations(wh: Warehouse, relations: Sequence[Relation]) -> list[str]:
    """Which of `relations` the warehouse does not have (as `schema.name`)."""
    present = {
        (str(s), str(t))
        for s, t in wh.fetchall("select table_schema, table_name from information_schema.tables")
    }
    return [f"{s}.{t}" for s, t in relations if (s, t) not in present]


def ensure_inputs_table(wh: Warehouse) -> None:
    """Create `ops.dbt_build_inputs` if missing."""
    wh.ensure_schema("ops")
    wh.execute(
        f"create table if not exists {INPUTS_TABLE} (run_id text not null,"
        " started_at timestamptz not null, skip_key text not null,"
        " succeeded boolean not null default false, test_results text)"
    )


def begin_build(wh: Warehouse, *, run_id: str, key: str, now: datetime) -> None:
    """Record that a whole build with `key` started (unfinished until `finish_build`)."""
    ensure_inputs_table(wh)
    wh.execute(
        f"insert into {INPUTS_TABLE} (run_id, started_at, skip_key) values (?, ?, ?)",
        [run_id, now, key],
    )


def finish_build(wh: Warehouse, *, run_id: str, test_results: Mapping[str, Any]) -> None:
    """Mark the build of `run_id` succeeded, with its tests' `[status, failures]` by id."""
    ensure_inputs_table(wh)
    wh.execute(
        f"update {INPUTS_TABLE} set succeeded = true, test_results = ? where run_id = ?",
        [json.dumps(dict(test_results), sort_keys=True), run_id],
    )


def dbt_test_results(run_results: Mapping[str, Any]) -> dict[str, list[Any]]:
    """`{test unique_id: [status, failures]}` from dbt's `run_results.json`."""
    return {
        str(r["unique_id"]): [r.get("status"), r.get("failures")]
        for r in run_results.get("results", [])
        if str(r.get("unique_id", "")).startswith("test.")
    }


@dataclass(frozen=True)
class UnchangedBuild:
    """The last whole build, whose inputs equal this run's: its run and its test results."""

    run_id: str
    started_at: datetime
    test_results: dict[str, list[Any]]


def unchanged_build(wh: Warehouse, key: str) -> UnchangedBuild | None:
    """The latest started whole build when it succeeded with `key`, else None."""
    ensure_inputs_table(wh)
    row = wh.fetchone(
        f"select run_id, started_at, skip_key, succeeded, test_results from {INPUTS_TABLE}"
        " order by started_at desc limit 1"
    )
    if row is None or row[2] != key or not row[3] or row[4] is None:
        return None
    return UnchangedBuild(str(row[0]), row[1], json.loads(row[4]))
