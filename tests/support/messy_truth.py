"""Scoring a built warehouse against a world's truth, with each miss and false positive put
down to the injected mess that explains it (a world of the `messy` profile records its mess
in `truth.mess`, `truth.dq_problems` and the discrepancies' details).

Shared by the messy reconciliation test (its failure message) and whoever writes the status
of what is left (`python -m tests.support.messy_truth WORLD_DIR WAREHOUSE.duckdb`).

- Breaks: (kind, source id, target id) as `tests.support.reconciliation_truth` keys them,
  every kind but `data_quality`; precision and recall against `truth_keys`.
- Data-quality findings: the object ids of `reconciliation.dq_findings` against the object
  ids of `truth.dq_problems`.
- Each break must carry `match_method` and `confidence`.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from tests.support.reconciliation_truth import break_key, truth_keys

Key = tuple[str, str, str | None]


@dataclass
class Score:
    """How a warehouse's breaks and findings compare with the truth."""

    truth: set[Key]
    found: set[Key]
    misses: list[Key]
    false_positives: list[Key]
    without_method: int  # breaks with a null match_method or confidence (-1: no such column)
    dq_truth: set[str]
    dq_found: set[str]
    causes: dict[Key, str] = field(default_factory=dict)
    dq_causes: dict[str, str] = field(default_factory=dict)

    @property
    def recall(self) -> float:
        return 1 - len(self.misses) / len(self.truth) if self.truth else 1.0

    @property
    def precision(self) -> float:
        return 1 - len(self.false_positives) / len(self.found) if self.found else 0.0

    @property
    def dq_misses(self) -> list[str]:
        return sorted(self.dq_truth - self.dq_found)

    @property
    def dq_false_positives(self) -> list[str]:
        return sorted(self.dq_found - self.dq_truth)

    @property
    def exact(self) -> bool:
        return (
            not self.misses
            and not self.false_positives
            and self.without_method == 0
            and self.dq_truth == self.dq_found
        )

    def report(self) -> str:
        """A Markdown summary: figures, then misses and false positives grouped by cause."""
        out = [
            f"- breaks: truth {len(self.truth)}, reported {len(self.found)}, "
            f"recall {self.recall:.2%}, precision {self.precision:.2%}",
            "- breaks without match_method/confidence: "
            + ("column missing" if self.without_method < 0 else str(self.without_method)),
            f"- data-quality findings: injected {len(self.dq_truth)}, reported "
            f"{len(self.dq_found)}, missed {len(self.dq_misses)}, "
            f"extra {len(self.dq_false_positives)}",
        ]
        for title, keys in (("Misses", self.misses), ("False positives", self.false_positives)):
            out.append(f"\n### {title} ({len(keys)})")
            groups: dict[str, list[Key]] = defaultdict(list)
            for key in keys:
                groups[self.causes.get(key, key[0])].append(key)
            for cause, members in sorted(groups.items(), key=lambda g: (-len(g[1]), g[0])):
                examples = ", ".join(f"{s}->{t}" if t else s for _, s, t in members[:3])
                out.append(f"- **{cause}**: {len(members)} (e.g. {examples})")
        for title, ids in (
            ("Data-quality problems not reported", self.dq_misses),
            ("Data-quality findings not injected", self.dq_false_positives),
        ):
            out.append(f"\n### {title} ({len(ids)})")
            groups2: dict[str, list[str]] = defaultdict(list)
            for oid in ids:
                groups2[self.dq_causes.get(oid, "?")].append(oid)
            for cause, members in sorted(groups2.items(), key=lambda g: (-len(g[1]), g[0])):
                out.append(f"- **{cause}**: {len(members)} (e.g. {', '.join(members[:3])})")
        return "\n".join(out)


def _truth_rows(world_dir: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(world_dir / "truth.sqlite")
    try:
        return con.execute(sql).fetchall()
    except sqlite3.OperationalError:  # a world from before these tables
        return []
    finally:
        con.close()


def mess_by_object(world_dir: Path) -> dict[str, str]:
    """Object id -> the injected mess it is part of (the first named)."""
    out: dict[str, str] = {}
    # a link held in another form explains more than the other mess on the same ids
    for kind, ids in _truth_rows(
        world_dir,
        "select kind, object_ids from mess" " order by kind <> 'short_salesforce_id', id",
    ):
        for oid in json.loads(ids).values():
            out.setdefault(str(oid), kind)
    for kind, ids, detail in _truth_rows(
        world_dir, "select kind, object_ids, detail from discrepancies"
    ):
        d = json.loads(detail)
        tag = None
        if d.get("hand_keyed"):
            tag = "hand_keyed_duplicate"
        elif kind == "deal_without_subscription" and "billing_customer" in d:
            tag = "won_deal_not_billed"
        if tag:
            for oid in json.loads(ids).values():
                out.setdefault(str(oid), tag)
    for problem, oid in _truth_rows(world_dir, "select problem, object_id from dq_problems"):
        out.setdefault(str(oid), problem)
    return out


def _cause(key: Key, mess: dict[str, str]) -> str:
    kind, source, target = key
    for oid in (source, target):
        if oid is not None and oid in mess:
            return f"{kind} / {mess[oid]}"
    return f"{kind} / no injected mess on its ids"


def score(world_dir: Path, db_path: Path, *, listable_events_only: bool = False) -> Score:
    """Compare the warehouse at `db_path` with the truth of `world_dir`.

    `listable_events_only`: leave out event discrepancies older than the API lists (a
    warehouse the extractors filled through the stand-ins, not the test loader).
    """
    world_dir = Path(world_dir)
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        cols = {
            r[0]
            for r in con.execute(
                "select column_name from information_schema.columns"
                " where table_schema = 'reconciliation' and table_name = 'rec_breaks'"
            ).fetchall()
        }
        rows = con.execute(
            "select break_kind, source_object_id, target_object_id from reconciliation.rec_breaks"
            " where break_kind <> 'data_quality'"
        ).fetchall()
        if {"match_method", "confidence"} <= cols:
            (without,) = con.execute(
                "select count(*) from reconciliation.rec_breaks"
                " where match_method is null or confidence is null"
            ).fetchone()
        else:
            without = -1
        has_dq = con.execute(
            "select count(*) from information_schema.tables"
            " where table_schema = 'reconciliation' and table_name = 'dq_findings'"
        ).fetchone()[0]
        dq_rows = (
            con.execute(
                "select object_id, check_name from reconciliation.dq_findings"
                " where object_id is not null"
            ).fetchall()
            if has_dq
            else []
        )
    finally:
        con.close()
    truth = truth_keys(world_dir, listable_events_only=listable_events_only)
    found = {break_key(k, s, t) for k, s, t in rows}
    mess = mess_by_object(world_dir)
    misses = sorted(truth - found, key=str)
    false_positives = sorted(found - truth, key=str)
    dq_truth = {
        str(oid): problem
        for problem, oid in _truth_rows(world_dir, "select problem, object_id from dq_problems")
    }
    dq_found = {str(oid): check for oid, check in dq_rows}
    return Score(
        truth=truth,
        found=found,
        misses=misses,
        false_positives=false_positives,
        without_method=int(without),
        dq_truth=set(dq_truth),
        dq_found=set(dq_found),
        causes={k: _cause(k, mess) for k in (*misses, *false_positives)},
        dq_causes={**{o: f"check {c}" for o, c in dq_found.items()}, **dq_truth},
    )


if __name__ == "__main__":  # python -m tests.support.messy_truth WORLD_DIR WAREHOUSE.duckdb
    print(score(Path(sys.argv[1]), Path(sys.argv[2])).report())
