"""Compile the contract for dbt: seeds (tables) and vars (compile-time values).

Seeds: `compile_seeds(contract)` returns one table per seed (`policy__<name>`: header + rows,
all text as dbt reads CSV); `write_seeds(contract, seeds_dir)` writes them as CSV.
Vars: `dbt_vars(contract)` returns the `q2c_*` vars the models use at compile time (lists in
`IN (...)`, column names), for `dbt ... --vars "$(q2c policy dbt-vars)"`; the defaults in
`dbt_project.yml` must equal them (a unit test compares).

The committed seeds in `dbt_project/seeds/` must equal what the contract compiles to; a unit
test enforces it, and `q2c policy compile` regenerates them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
from pathlib import Path
from typing import Any

from q2c.policy.model import CANONICAL_VALUES, CHANNELS, Contract, duration_seconds

Table = tuple[list[str], list[list[str]]]


def _s(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def compile_seeds(contract: Contract) -> dict[str, Table]:
    """Every seed table of the contract, keyed by seed name."""
    seeds: dict[str, Table] = {}
    seeds["policy__systems"] = (
        ["system", "kind", "product", "source", "owner_name", "owner_role"],
        [
            [k, s.kind, s.product, s.source, s.owner.name, s.owner.role]
            for k, s in contract.systems.items()
        ],
    )
    seeds["policy__entities"] = (
        [
            "entity",
            "system_of_record",
            "statement",
            "direction",
            "mode",
            "expected_lag_seconds",
            "incident_after_seconds",
        ],
        [
            [
                k,
                contract.sor(k),
                e.statement,
                e.sync.direction,
                e.sync.mode,
                _s(duration_seconds(e.sync.expected_lag or "0s")),
                _s(duration_seconds(e.sync.incident_after or "0s")),
            ]
            for k, e in contract.entities.items()
        ],
    )
    objects = []
    for k, e in contract.entities.items():
        for system, objs in e.objects.items():
            for obj in [objs] if isinstance(objs, str) else objs:
                objects.append([k, system, contract.systems[system].source, obj])
    seeds["policy__entity_objects"] = (["entity", "system", "source", "object"], objects)
    owners = []
    for k, e in contract.entities.items():
        for f in e.fields:
            sync = contract.field_sync(k, f)
            res = contract.field_resolution(k, f)
            owner = contract.field_owner(k, f)
            for system, ref in e.fields[f].sources.items():
                owners.append(
                    [
                        f"{k}.{f}",
                        k,
                        f,
                        _s(owner),
                        system,
                        contract.systems[system].source,
                        ref,
                        _s(system == owner),
                        _s(sync.direction),
                        _s(sync.mode),
                        _s(duration_seconds(sync.expected_lag or "0s")),
                        _s(duration_seconds(sync.incident_after or "0s")),
                        _s(res.winner if res else None),
                        _s(res.keep_losing_value if res else None),
                    ]
                )
    seeds["policy__field_owners"] = (
        [
            "field_id",
            "entity",
            "field",
            "owner",
            "system",
            "source",
            "source_ref",
            "is_owner_source",
            "direction",
            "mode",
            "expected_lag_seconds",
            "incident_after_seconds",
            "winner",
            "keep_losing_value",
        ],
        owners,
    )
    write_rows = []
    for t, api_name in contract.write_set():
        found = contract.find_field(t.system, f"{t.object}.{api_name}")
        ename, fname = found if found else ("", "")
        res = contract.field_resolution(ename, fname) if found else None
        write_rows.append(
            [
                t.system,
                contract.systems[t.system].source,
                t.object,
                api_name,
                f"{ename}.{fname}",
                _s(contract.field_owner(ename, fname) if found else None),
                t.flow,
                t.match_on,
                t.operation,
                _s(res.winner if res else None),
                _s(res.keep_losing_value if res else None),
            ]
        )
    seeds["policy__write_set"] = (
        [
            "system",
            "source",
            "sobject",
            "field_api_name",
            "field_id",
            "owner",
            "flow",
            "match_on",
            "operation",
            "winner",
            "keep_losing_value",
        ],
        write_rows,
    )
    sens = []
    for cname, c in contract.sensitivity.classes.items():
        default = c.treatment.get("default")
        refs = [(r.split(":", 1)[0], r.split(":", 1)[1]) for r in c.fields]
        refs += [("*", f"*.{k}") for k in c.keys]
        for system, path in refs:
            obj, _, field_path = path.partition(".")
            for ch in CHANNELS:
                sens.append(
                    [
                        cname,
                        c.category,
                        system,
                        obj,
                        field_path,
                        ch,
                        c.treatment.get(ch, default) or "",
                    ]
                )
    seeds["policy__sensitivity"] = (
        ["class", "category", "system", "object", "field_path", "channel", "treatment"],
        sens,
    )
    gates = []
    for gname, g in contract.compliance.gates.items():
        for status in g.blocking_statuses:
            for action in g.blocks:
                gates.append([gname, g.check, g.applies_to, status, action, g.reason, g.next_step])
    seeds["policy__compliance_gates"] = (
        [
            "gate",
            "check_name",
            "applies_to",
            "blocking_status",
            "blocked_action",
            "reason",
            "next_step",
        ],
        gates,
    )
    seeds["policy__rollout"] = (
        ["flow", "kind", "phase", "writes_to", "max_writes_per_run"],
        [
            [k, f.kind, f.phase, _s(f.writes_to), _s(f.max_writes_per_run)]
            for k, f in contract.rollout.items()
        ],
    )
    thresholds = []
    for phase, t in contract.reconciliation.thresholds.items():
        thresholds.append([phase, "break_rate_bps", "", "", _s(t.max_break_rate_bps)])
        for cur, v in t.max_unexplained_minor.items():
            thresholds.append([phase, "unexplained_minor", cur, "", _s(v)])
        for kind, v in t.max_open_breaks.items():
            thresholds.append([phase, "open_breaks", "", kind, _s(v)])
    seeds["policy__reconciliation_thresholds"] = (
        ["phase", "metric", "currency", "break_kind", "max_value"],
        thresholds,
    )
    # each gate's scope: the thresholds phase it is judged by, the break kinds that hold its
    # records (and are measured against those thresholds), the systems whose findings count
    scope = []
    for flow, gate in sorted(contract.output_gates.items()):
        scope.append([flow, gate.thresholds, "thresholds", gate.thresholds])
        scope.append([flow, gate.thresholds, "held_floor", str(gate.held_floor)])
        scope += [[flow, gate.thresholds, "blocking_break_kind", k]
                  for k in gate.blocking_break_kinds]  # fmt: skip
        scope += [[flow, gate.thresholds, "input_system", s] for s in gate.input_systems]
    seeds["policy__output_gates"] = (["flow", "thresholds", "setting", "value"], scope)
    seeds["policy__gl_accounts"] = (
        ["role", "acctnumber", "acctname", "accttype", "currency"],
        [
            [r, a.acctnumber, a.acctname, a.accttype, _s(a.currency)]
            for r, a in contract.erp.chart_of_accounts.items()
        ],
    )
    rules = []
    for name, value in contract.rules.model_dump().items():
        for position, item in enumerate(value if isinstance(value, list) else [value], 1):
            rules.append([name, _s(position), _s(item)])
    seeds["policy__rules"] = (["rule", "position", "value"], rules)
    seeds["policy__settings"] = (
        ["setting", "value"],
        [
            ["company", contract.company],
            ["writeback_max_receive_count", _s(contract.writeback.dead_letter.max_receive_count)],
            [
                "writeback_initial_backoff_seconds",
                _s(contract.writeback.retry.initial_backoff_seconds),
            ],
            ["writeback_max_backoff_seconds", _s(contract.writeback.retry.max_backoff_seconds)],
            ["writeback_bulk_threshold", _s(contract.writeback.bulk_threshold)],
        ],
    )
    return seeds


def dbt_vars(contract: Contract) -> dict[str, Any]:
    """The dbt vars the contract decides, by the names the models read."""
    r = contract.rules
    return {
        "q2c_posting_grace_days": r.posting_grace_days,
        "q2c_integration_username": r.integration_username,
        "q2c_billing_status_precedence": list(r.billing_status_precedence),
        "q2c_mrr_statuses": list(r.mrr_subscription_statuses),
        "q2c_dunning_statuses": list(r.dunning_statuses),
        "q2c_posted_invoice_statuses": list(r.posted_invoice_statuses),
        "q2c_invoice_posting_date_column": r.invoice_posting_date,
        "q2c_event_duplicate_window_seconds": r.event_duplicate_window_seconds,
        "q2c_event_late_seconds": r.event_late_seconds,
        "q2c_payment_retry_days": list(r.payment_retry_days),
        "q2c_eu_countries": list(r.reverse_charge_countries),
        **mapping_vars(contract),
    }


def mapping_vars(contract: Contract) -> dict[str, Any]:
    """The company mapping (`mapping:`) as the vars the models read.

    `q2c_value_maps`: map name -> {case_insensitive, values: normalized key -> canonical word}
    (keys normalized as `normalize_value`, canonical words included);
    `q2c_links`: the link fields; `q2c_matching`: tiers and tolerances.
    """
    m = contract.mapping
    value_maps = {}
    for name, canonical in CANONICAL_VALUES.items():
        vmap = m.value_map(name)
        value_maps[name] = {
            "case_insensitive": vmap.case_insensitive,
            "values": dict(sorted(vmap.lookup(canonical).items())),
        }
    return {
        "q2c_value_maps": value_maps,
        "q2c_links": m.links.model_dump(),
        "q2c_matching": m.matching.model_dump(),
        "q2c_crm_custom_fields": crm_custom_fields(contract),
    }


def crm_custom_fields(contract: Contract) -> dict[str, str]:
    """`<entity>.<field>` -> the CRM/support custom field's API name, for every mapped field
    whose CRM or support source is a custom field (`Account.Billing_Status__c`)."""
    out = {}
    for ename, entity in contract.entities.items():
        for fname, spec in entity.fields.items():
            for system in ("crm", "support"):
                ref = spec.sources.get(system, "")
                if ref.endswith("__c") and "." in ref:
                    out[f"{ename}.{fname}"] = ref.split(".", 1)[1]
    return dict(sorted(out.items()))


def render_csv(table: Table) -> str:
    """The CSV text of one seed table (`\\n` line ends, minimal quoting)."""
    header, rows = table
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def write_seeds(contract: Contract, seeds_dir: Path) -> list[Path]:
    """Write every seed CSV into `seeds_dir`, removing stale `policy__*.csv`; returns the paths."""
    seeds_dir.mkdir(parents=True, exist_ok=True)
    seeds = compile_seeds(contract)
    for stale in seeds_dir.glob("policy__*.csv"):
        if stale.stem not in seeds:
            stale.unlink()
    paths = []
    for name, table in seeds.items():
        path = seeds_dir / f"{name}.csv"
        path.write_text(render_csv(table), encoding="utf-8", newline="")
        paths.append(path)
    return paths


#: The environment variable `dbt_project.yml` reads for its `seed-paths` (default `seeds`).
SEED_DIR_VARIABLE = "Q2C_DBT_SEED_DIR"


def seeds_dir_for(contract: Contract, committed_dir: Path, work_dir: Path) -> Path | None:
    """Where dbt must read the policy seeds of `contract`: None when the committed seeds in
    `committed_dir` are what the contract compiles to, else `work_dir/<digest>/`, written once
    with the compiled CSVs (their properties and tests live in `models/policy/`, so dbt reads
    them whichever directory the CSVs come from: dbt cannot compile the tests of a properties
    file outside the project).

    A company's own contract (`Q2C_POLICY_FILE`) brings its own chart of accounts, write set and
    thresholds; without this the build would read the shipped company's seeds.
    """
    seeds = compile_seeds(contract)
    texts = {f"{name}.csv": render_csv(table) for name, table in seeds.items()}
    committed = {p.name: p.read_text(encoding="utf-8") for p in committed_dir.glob("policy__*.csv")}
    if committed == texts:
        return None
    digest = hashlib.sha256(
        # "csv" names this layout (CSVs only; the properties live under models/policy/)
        ("csv\0" + "".join(f"{n}\0{t}\0" for n, t in sorted(texts.items()))).encode()
    ).hexdigest()[:16]
    target = work_dir / digest
    if not target.exists():
        staging = work_dir / f".{digest}.{os.getpid()}"
        staging.mkdir(parents=True, exist_ok=True)
        for name, text in texts.items():
            (staging / name).write_text(text, encoding="utf-8", newline="")
        try:
            staging.rename(target)
        except OSError:  # another process wrote the same digest first
            shutil.rmtree(staging, ignore_errors=True)
    return target
