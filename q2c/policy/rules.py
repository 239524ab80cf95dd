"""Cross-reference rules over a parsed contract; each broken rule is a `ContractIssue`.

The typed model checks one node at a time; these rules check that the sections agree:
one System of Record per object, owners and readers name known systems, every written field is
mapped with an owner and a winner rule, a written field owned by another system has a documented
exception, gates name known statuses and actions, flows name known phases.
"""

from __future__ import annotations

from collections.abc import Iterator

from q2c.policy.errors import ContractIssue
from q2c.policy.model import (
    CANONICAL_VALUES,
    CHANNELS,
    INVOICE_STATUSES,
    PHASES,
    SUBSCRIPTION_STATUSES,
    Contract,
    Sync,
    duration_seconds,
    normalize_value,
)
from q2c.policy.yaml_source import Loc, LocatedDocument, where


class _Reporter:
    def __init__(self, doc: LocatedDocument) -> None:
        self.doc = doc
        self.issues: list[ContractIssue] = []

    def __call__(self, loc: Loc, problem: str, fix: str) -> None:
        self.issues.append(
            ContractIssue(self.doc.file, self.doc.line_of(loc), where(loc), problem, fix)
        )


def check_rules(contract: Contract, doc: LocatedDocument) -> list[ContractIssue]:
    """Every cross-reference problem of `contract`, located in `doc`."""
    report = _Reporter(doc)
    systems = set(contract.systems)
    _systems_of_record(contract, report, systems)
    _fields(contract, report, systems)
    _write_set(contract, report, systems)
    _sensitivity(contract, report, systems)
    _gates(contract, report)
    _rollout(contract, report, systems)
    _reconciliation(contract, report)
    _output_gates(contract, report)
    _automations(contract, report)
    _chart_of_accounts(contract, report)
    _finance_rules(contract, report)
    _mapping(contract, report)
    return report.issues


def _known(report: _Reporter, loc: Loc, value: str, known: set[str], what: str) -> bool:
    if value in known:
        return True
    report(
        loc,
        f"'{value}' is not a known {what}.",
        f"use one of: {', '.join(sorted(known))} (or declare it first).",
    )
    return False


def _automations(contract: Contract, report: _Reporter) -> None:
    """Each automation class names a write flow of its own, known thresholds and systems."""
    writes = {n for n, f in contract.rollout.items() if f.kind == "write"}
    owners: dict[str, str] = {}
    for name, auto in contract.automations.items():
        loc: Loc = ("automations", name)
        _known(report, (*loc, "rollout_flow"), auto.rollout_flow, writes, "write flow")
        if auto.rollout_flow in owners:
            report(
                (*loc, "rollout_flow"),
                f"automations {owners[auto.rollout_flow]} and {name} share a rollout flow.",
                "give each class its own flow, so each is paused and rolled back alone.",
            )
        owners[auto.rollout_flow] = name
        if auto.thresholds is not None:
            _known(report, (*loc, "thresholds"), auto.thresholds,
                   set(contract.reconciliation.thresholds), "reconciliation threshold")  # fmt: skip
        for i, system in enumerate(auto.input_systems):
            _known(report, (*loc, "input_systems", i), system, set(contract.systems), "system")


def _systems_of_record(contract: Contract, report: _Reporter, systems: set[str]) -> None:
    seen: dict[tuple[str, str], tuple[str, str]] = {}
    for ename, e in contract.entities.items():
        loc: Loc = ("entities", ename, "system_of_record")
        if isinstance(e.system_of_record, list):  # none, or two or more
            named = ", ".join(e.system_of_record)
            problem = (
                f"two Systems of Record for one object: entity '{ename}' names {named}; an "
                "object has exactly one."
                if e.system_of_record
                else f"entity '{ename}' names no System of Record; an object has exactly one."
            )
            report(
                loc,
                problem,
                "keep the one system that owns the truth and list the others under "
                "`readers:`; a field another system owns goes under `exceptions:`.",
            )
            continue
        _known(report, loc, e.system_of_record, systems, "system")
        for i, reader in enumerate(e.readers):
            _known(report, ("entities", ename, "readers", i), reader, systems, "system")
            if reader == e.system_of_record:
                report(
                    ("entities", ename, "readers", i),
                    f"{reader} is the System of Record of '{ename}' and also listed as a reader.",
                    "remove it from readers: readers are the systems that only read.",
                )
        for system, objs in e.objects.items():
            oloc: Loc = ("entities", ename, "objects", system)
            if not _known(report, oloc, system, systems, "system"):
                continue
            for obj in [objs] if isinstance(objs, str) else objs:
                key = (system, obj)
                if key in seen and seen[key][0] != ename:
                    other, other_sor = seen[key]
                    report(
                        oloc,
                        f"two Systems of Record for one object: {system} '{obj}' is mapped by "
                        f"entity '{other}' (System of Record {other_sor}) and by '{ename}' "
                        f"(System of Record {e.system_of_record}).",
                        "map each system's object to one entity only; merge the two entities "
                        "or remove the object from one of them.",
                    )
                seen[key] = (ename, e.system_of_record)
        _sync_complete(report, ("entities", ename, "sync"), e.sync, entity_level=True)


def _sync_complete(report: _Reporter, loc: Loc, sync: Sync, entity_level: bool) -> None:
    missing = [
        k
        for k in ("direction", "mode", "reason", "expected_lag", "incident_after")
        if getattr(sync, k) is None
    ]
    if missing and entity_level:
        report(
            loc,
            f"the sync is missing {', '.join(missing)}.",
            "write direction, mode, reason, expected_lag and incident_after for the entity.",
        )
    if sync.expected_lag and sync.incident_after:
        lag, incident = duration_seconds(sync.expected_lag), duration_seconds(sync.incident_after)
        if incident <= lag:
            report(
                (*loc, "incident_after"),
                f"incident_after ({sync.incident_after}) is not longer than expected_lag "
                f"({sync.expected_lag}), so normal lag would page someone.",
                "make incident_after longer than expected_lag.",
            )


def _fields(contract: Contract, report: _Reporter, systems: set[str]) -> None:
    # written fields get the write-set message instead (one message per problem)
    excepted = {x.field for x in contract.exceptions} | _written_ids(contract)
    fields_known = set()
    for ename, e in contract.entities.items():
        if e.defaults.owner is not None:
            _known(
                report,
                ("entities", ename, "defaults", "owner"),
                e.defaults.owner,
                systems,
                "system",
            )
        for fname, f in e.fields.items():
            fid = f"{ename}.{fname}"
            fields_known.add(fid)
            loc: Loc = ("entities", ename, "fields", fname)
            if f.owner is not None:
                _known(report, (*loc, "owner"), f.owner, systems, "system")
            for system in f.sources:
                _known(report, (*loc, "sources", system), system, systems, "system")
            if f.sync is not None:
                _sync_complete(report, (*loc, "sync"), contract.field_sync(ename, fname), False)
            owner = contract.field_owner(ename, fname)
            if owner and isinstance(e.system_of_record, str):
                if owner != e.system_of_record and fid not in excepted:
                    report(
                        (*loc, "owner"),
                        f"field '{fid}' is owned by {owner} but entity '{ename}' has System of "
                        f"Record {e.system_of_record}, and no exception documents why.",
                        f"add `- {{field: {fid}, reason: ..., approved_by: ...}}` under "
                        "`exceptions:` or change the owner.",
                    )
                if owner not in f.sources:
                    report(
                        (*loc, "sources"),
                        f"field '{fid}' is owned by {owner} but has no source in {owner}.",
                        f"add `{owner}: <where the value lives in {owner}>` under sources.",
                    )
    for i, x in enumerate(contract.exceptions):
        if x.field not in fields_known:
            report(
                ("exceptions", i, "field"),
                f"the exception names '{x.field}', which is not a mapped field.",
                "write it as <entity>.<field> as declared under entities.",
            )


def _write_set(contract: Contract, report: _Reporter, systems: set[str]) -> None:
    excepted = {x.field for x in contract.exceptions}
    for ti, t in enumerate(contract.writeback.targets):
        tloc: Loc = ("writeback", "targets", ti)
        _known(report, (*tloc, "system"), t.system, systems, "system")
        if t.flow not in contract.rollout:
            _known(report, (*tloc, "flow"), t.flow, set(contract.rollout), "rollout flow")
        elif contract.rollout[t.flow].kind != "write":
            report(
                (*tloc, "flow"),
                f"flow '{t.flow}' is an ingestion flow; a write target needs a write flow.",
                f"set `kind: write` on rollout.{t.flow} or point at a write flow.",
            )
        for fi, api_name in enumerate(t.fields):
            floc: Loc = (*tloc, "fields", fi)
            ref = f"{t.object}.{api_name}"
            found = contract.find_field(t.system, ref)
            if found is None:
                report(
                    floc,
                    f"written field {ref} has no owner: no field under entities maps "
                    f"`{t.system}: {ref}`.",
                    f"declare the field under its entity with `owner:`, `sources: {{{t.system}: "
                    f"{ref}, ...}}` and a `resolution:` winner rule.",
                )
                continue
            ename, fname = found
            fid = f"{ename}.{fname}"
            spec = contract.entities[ename].fields[fname]
            # a written field states its own owner and winner rule: an entity default (written
            # for read-only fields) must not silently decide who wins a write
            owner = spec.owner
            if owner is None:
                report(
                    floc,
                    f"written field {ref} ({fid}) has no owner (entity defaults do not count "
                    "for written fields).",
                    f"set `owner:` on entities.{ename}.fields.{fname}.",
                )
            if spec.resolution is None:
                report(
                    floc,
                    f"written field {ref} ({fid}) has no winner rule for conflicts (entity "
                    "defaults do not count for written fields).",
                    f"add `resolution: {{winner: owner_wins|human_edit_wins|flag_for_review, "
                    f"keep_losing_value: true, reason: ...}}` to entities.{ename}.fields.{fname}.",
                )
            if owner is not None and owner != t.system and fid not in excepted:
                report(
                    floc,
                    f"write-set field {ref} is owned by {owner}, another system than the "
                    f"{t.system} it is written to, and no exception documents why.",
                    f"add `- {{field: {fid}, reason: ..., approved_by: ...}}` under `exceptions:`.",
                )
            direction = contract.field_sync(ename, fname).direction
            if direction not in ("outbound", "bidirectional"):
                report(
                    floc,
                    f"written field {ref} ({fid}) has sync direction {direction}; the pipeline "
                    "writes it, so it is outbound or bidirectional.",
                    f"set `sync: {{direction: outbound}}` on entities.{ename}.fields.{fname}.",
                )


def _sensitivity(contract: Contract, report: _Reporter, systems: set[str]) -> None:
    for cname, c in contract.sensitivity.classes.items():
        loc: Loc = ("sensitivity", "classes", cname)
        unknown = sorted(set(c.treatment) - {"default", *CHANNELS})
        for ch in unknown:
            report(
                (*loc, "treatment", ch),
                f"'{ch}' is not a channel.",
                f"use default or one of: {', '.join(CHANNELS)}.",
            )
        if "default" not in c.treatment and not set(CHANNELS) <= set(c.treatment):
            missing = [ch for ch in CHANNELS if ch not in c.treatment]
            report(
                (*loc, "treatment"),
                f"no treatment for {', '.join(missing)}.",
                "add `default: <drop|hash|redact|mask>` or a treatment per channel.",
            )
        treatments = dict(c.treatment)
        default = treatments.get("default")
        if treatments.get("logs", default) == "allow":
            report(
                (*loc, "treatment", "logs"),
                f"'{cname}' would reach the logs unmasked; PII never goes to logs.",
                "use drop, hash, redact or mask for logs.",
            )
        if c.category == "tax_document":
            for ch in CHANNELS:
                if treatments.get(ch, default) not in ("drop", "redact"):
                    report(
                        (*loc, "treatment"),
                        f"tax document '{cname}' gets '{treatments.get(ch, default)}' in {ch}; "
                        "tax documents reach downstream tools only as status metadata.",
                        "use drop or redact, and list the status fields under status_metadata.",
                    )
                    break
        for i, ref in enumerate(c.fields):
            system = ref.split(":", 1)[0]
            if ":" not in ref or "." not in ref.split(":", 1)[1]:
                report(
                    (*loc, "fields", i),
                    f"'{ref}' is not `system:Object.path`.",
                    "write e.g. `billing:customer.email` or `crm:Contact.Email`.",
                )
            else:
                _known(report, (*loc, "fields", i), system, systems, "system")


def _gates(contract: Contract, report: _Reporter) -> None:
    comp = contract.compliance
    actions = set(comp.actions)
    entities = set(contract.entities)
    for gname, g in comp.gates.items():
        loc: Loc = ("compliance", "gates", gname)
        if not _known(report, (*loc, "check"), g.check, set(comp.statuses), "compliance check"):
            continue
        _known(report, (*loc, "applies_to"), g.applies_to, entities, "entity")
        known = set(comp.statuses[g.check])
        for i, status in enumerate(g.blocking_statuses):
            if status not in known:
                report(
                    (*loc, "blocking_statuses", i),
                    f"gate '{gname}' names unknown status '{status}' for check '{g.check}'.",
                    f"use one of: {', '.join(comp.statuses[g.check])}, or add it to "
                    f"compliance.statuses.{g.check}.",
                )
        for i, action in enumerate(g.blocks):
            _known(report, (*loc, "blocks", i), action, actions, "action")


def _rollout(contract: Contract, report: _Reporter, systems: set[str]) -> None:
    for fname, flow in contract.rollout.items():
        loc: Loc = ("rollout", fname)
        if flow.phase not in PHASES:
            report(
                (*loc, "phase"),
                f"unknown phase '{flow.phase}' for flow '{fname}'.",
                f"use one of: {', '.join(PHASES)}.",
            )
        if flow.kind == "ingestion" and flow.phase != "read_only":
            report(
                (*loc, "phase"),
                f"ingestion flow '{fname}' is in phase {flow.phase}; ingestion only reads.",
                "set `phase: read_only`.",
            )
        if flow.kind == "write":
            if flow.writes_to is None:
                report(
                    loc,
                    f"write flow '{fname}' does not say where it writes.",
                    "add `writes_to: <system>`.",
                )
            else:
                # `notifications`: the finance notifications' table and webhook (automations)
                _known(report, (*loc, "writes_to"), flow.writes_to, systems | {"notifications"},
                       "system")  # fmt: skip
    for phase in contract.reconciliation.thresholds:
        if phase not in PHASES:
            report(
                ("reconciliation", "thresholds", phase),
                f"unknown phase '{phase}'.",
                f"use one of: {', '.join(PHASES)}.",
            )


def _reconciliation(contract: Contract, report: _Reporter) -> None:
    kinds = set(contract.reconciliation.break_kinds)
    for phase, t in contract.reconciliation.thresholds.items():
        for kind in t.max_open_breaks:
            _known(
                report,
                ("reconciliation", "thresholds", phase, "max_open_breaks", kind),
                kind,
                kinds,
                "break kind",
            )
    for phase in ("controlled_writes", "automation"):
        if phase not in contract.reconciliation.thresholds:
            report(
                ("reconciliation", "thresholds"),
                f"no reconciliation threshold for {phase}.",
                f"add thresholds.{phase} with max_break_rate_bps, max_unexplained_minor and "
                "max_open_breaks.",
            )


def _output_gates(contract: Contract, report: _Reporter) -> None:
    writes = {n for n, f in contract.rollout.items() if f.kind == "write"}
    for gname, gate in contract.output_gates.items():
        loc: Loc = ("output_gates", gname)
        _known(report, (*loc, "rollout_flow"), gate.rollout_flow, writes, "write flow")
        _known(
            report,
            (*loc, "thresholds"),
            gate.thresholds,
            set(contract.reconciliation.thresholds),
            "reconciliation threshold",
        )
        for i, system in enumerate(gate.input_systems):
            _known(report, (*loc, "input_systems", i), system, set(contract.systems), "system")
        # data_quality: the findings on the inputs (rec_data_quality), whatever the list says
        kinds = {*contract.reconciliation.break_kinds, "data_quality"}
        for i, kind in enumerate(gate.blocking_break_kinds):
            _known(report, (*loc, "blocking_break_kinds", i), kind, kinds, "break kind")


#: the roles the journal export posts to; each must be mapped
REQUIRED_GL_ROLES = (
    "accounts_receivable",
    "revenue",
    "refunds",
    "tax_payable",
    "stripe_clearing",
    "fees_expense",
)


def _chart_of_accounts(contract: Contract, report: _Reporter) -> None:
    chart = contract.erp.chart_of_accounts
    for role in REQUIRED_GL_ROLES:
        if role not in chart:
            report(
                ("erp", "chart_of_accounts"),
                f"the journal export needs an account for '{role}'.",
                f"add `{role}: {{acctnumber: ..., acctname: ..., accttype: ...}}`.",
            )
    currencies = {
        c for t in contract.reconciliation.thresholds.values() for c in t.max_unexplained_minor
    }
    banks = {a.currency for a in chart.values() if a.accttype == "Bank"}
    for currency in sorted(currencies - banks):
        report(
            ("erp", "chart_of_accounts"),
            f"no Bank account for currency {currency}, so its payouts cannot be posted.",
            f"add `bank_{currency}: {{acctnumber: ..., acctname: ..., accttype: Bank, "
            f"currency: {currency}}}`.",
        )


def _finance_rules(contract: Contract, report: _Reporter) -> None:
    r = contract.rules
    for key, values, known in (
        ("billing_status_precedence", r.billing_status_precedence, SUBSCRIPTION_STATUSES),
        ("mrr_subscription_statuses", r.mrr_subscription_statuses, SUBSCRIPTION_STATUSES),
        ("dunning_statuses", r.dunning_statuses, r.billing_status_precedence),
        ("posted_invoice_statuses", r.posted_invoice_statuses, INVOICE_STATUSES),
    ):
        for i, value in enumerate(values):
            if value not in known:
                report(
                    ("rules", key, i),
                    f"'{value}' is not a status {key} can name.",
                    f"use one of: {', '.join(known)}.",
                )
    for i, code in enumerate(r.reverse_charge_countries):
        if len(code) != 2 or not code.isupper():
            report(
                ("rules", "reverse_charge_countries", i),
                f"'{code}' is not an ISO country.",
                "write two upper-case letters (GR for Greece).",
            )


def _mapping(contract: Contract, report: _Reporter) -> None:
    """Value maps name known maps and map onto q2c's canonical words; no two labels of one
    map collide once normalized onto different words."""
    for name, vmap in contract.mapping.value_maps.items():
        if name not in CANONICAL_VALUES:
            report(
                ("mapping", "value_maps", name),
                f"'{name}' is not a value map q2c compares.",
                f"use one of: {', '.join(CANONICAL_VALUES)}.",
            )
            continue
        canonical = CANONICAL_VALUES[name]
        seen: dict[str, str] = {}
        for label, word in vmap.values.items():
            if word not in canonical:
                report(
                    ("mapping", "value_maps", name, "values", label),
                    f"'{word}' is not a canonical {name} word.",
                    f"map '{label}' to one of: {', '.join(canonical)}.",
                )
            key = normalize_value(label, case_insensitive=vmap.case_insensitive)
            if seen.get(key, word) != word:
                report(
                    ("mapping", "value_maps", name, "values", label),
                    f"'{label}' and another label are the same value once case and spacing"
                    f" are ignored, but map to '{seen[key]}' and '{word}'.",
                    "map them to one word, or set case_insensitive: false for this map.",
                )
            seen.setdefault(key, word)
    links = contract.mapping.links
    for entity, field, link, name in (
        ("account", "billing_customer_id", links.customer_account, "customer_account"),
        ("opportunity", "billing_subscription_id", links.subscription_deal, "subscription_deal"),
    ):
        spec = contract.entities.get(entity)
        ref = spec.fields[field].sources.get("crm") if spec and field in spec.fields else None
        if ref and ref.split(".", 1)[-1] != link.crm_field:
            report(
                ("mapping", "links", name, "crm_field"),
                f"the link field '{link.crm_field}' is not the field the entity map names"
                f" for {entity}.{field} ('{ref}').",
                "name the same CRM field in both places.",
            )


def _written_ids(contract: Contract) -> set[str]:
    ids = set()
    for t, api_name in contract.write_set():
        found = contract.find_field(t.system, f"{t.object}.{api_name}")
        if found:
            ids.add(".".join(found))
    return ids


def iter_fields(contract: Contract) -> Iterator[tuple[str, str]]:
    """Every (entity, field) pair in file order."""
    for ename, e in contract.entities.items():
        for fname in e.fields:
            yield ename, fname
