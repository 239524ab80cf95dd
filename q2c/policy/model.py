"""The typed shape of `policy/ownership.yml` (pydantic), with the single-node checks.

Cross-references between sections (an owner naming a system, a gate naming a status, the write
set naming mapped fields) are checked in `q2c.policy.rules`, which reports file and line.
Unknown keys are errors (`extra="forbid"`): a typo in the contract must not be ignored.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SystemKind = Literal["billing", "crm", "support", "erp"]
Direction = Literal["inbound", "outbound", "bidirectional"]
Mode = Literal["real_time", "batch"]
Phase = Literal["read_only", "controlled_writes", "automation"]
PHASES: tuple[str, ...] = ("read_only", "controlled_writes", "automation")
Winner = Literal["owner_wins", "human_edit_wins", "flag_for_review"]
Treatment = Literal["drop", "hash", "redact", "mask", "scrub", "allow"]
Category = Literal["pii", "bank_account", "tax_id", "tax_document"]
ScrubKind = Literal["email", "phone", "iban", "account_number", "vat", "tin"]
#: `create`: a new record each time (a payout released on a connected account: q2c.compliance)
Operation = Literal["upsert", "update", "create"]

#: Where masked data goes; every sensitivity class must say (or default) what each one gets.
CHANNELS: tuple[str, ...] = (
    "logs",
    "events",
    "dagster_metadata",
    "exports",
    "crm",
    "support_views",
    "writeback",
    "dlq",
    "audit",
    # the finance report, its workbook and the evidence pack (q2c.reports)
    "reports",
)

_DURATION = re.compile(r"^(\d+)(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str) -> int:
    """`"15m"` -> 900. Durations are a whole number and one unit of s, m, h or d."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"'{text}' is not a duration; write a number and a unit: 30s, 15m, 2h, 1d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Person(_Strict):
    name: str = Field(min_length=1)
    role: str = Field(min_length=1)


class System(_Strict):
    """One product in the inventory."""

    kind: SystemKind
    product: str
    #: the landing source name (`raw.<source>__<object>`) this system's data arrives under
    source: str
    owner: Person
    description: str = ""


class Sync(_Strict):
    """How a value travels, and how late it may be before someone is paged."""

    direction: Direction | None = None
    mode: Mode | None = None
    reason: str | None = None
    expected_lag: str | None = None
    incident_after: str | None = None

    @field_validator("expected_lag", "incident_after")
    @classmethod
    def _is_duration(cls, value: str | None) -> str | None:
        if value is not None:
            duration_seconds(value)
        return value


class Resolution(_Strict):
    """What happens when two systems disagree about a field."""

    winner: Winner
    keep_losing_value: bool = True
    reason: str = Field(min_length=1)


class FieldSpec(_Strict):
    """One mapped field: its owner, where it lives in each system, its sync and conflict rule."""

    owner: str | None = None
    sources: dict[str, str] = Field(min_length=1)
    sync: Sync | None = None
    resolution: Resolution | None = None
    description: str = ""


class EntityDefaults(_Strict):
    owner: str | None = None
    resolution: Resolution | None = None


class Entity(_Strict):
    """One business object with exactly one System of Record."""

    #: a list here is the classic mistake (two Systems of Record); rules.py explains it
    system_of_record: str | list[str]
    statement: str = Field(min_length=1)
    objects: dict[str, str | list[str]] = Field(min_length=1)
    readers: list[str] = []
    sync: Sync
    defaults: EntityDefaults = EntityDefaults()
    fields: dict[str, FieldSpec] = {}

    @field_validator("system_of_record")
    @classmethod
    def _one_element_list_is_the_system(cls, value: str | list[str]) -> str | list[str]:
        # `[crm]` means crm; lists of another length stay lists for rules.py to report
        return value[0] if isinstance(value, list) and len(value) == 1 else value


class OwnershipException(_Strict):
    """A field deliberately owned by a system other than its entity's System of Record."""

    field: str
    reason: str = Field(min_length=1)
    approved_by: str = Field(min_length=1)


class WriteTarget(_Strict):
    """One object the pipeline writes, how it finds the record, and which fields it may set."""

    system: str
    object: str
    match_on: str
    operation: Operation
    flow: str
    fields: list[str] = Field(min_length=1)
    #: field API name -> `mapping.value_maps` entry: the write sends the org's label for the
    #: canonical word (the read side maps labels to canonical words with the same map)
    value_maps: dict[str, str] = {}


class DeadLetter(_Strict):
    max_receive_count: int = Field(ge=1, le=100)


class Retry(_Strict):
    initial_backoff_seconds: int = Field(ge=0)
    max_backoff_seconds: int = Field(ge=0)


class QueueHealth(_Strict):
    """Where the write-back's queues stop being healthy (asset checks warn beyond these)."""

    max_outbox_depth: int = Field(default=1000, ge=0)
    max_oldest_pending_age_seconds: int = Field(default=3600, ge=0)
    max_dead_letters: int = Field(default=0, ge=0)
    max_oldest_dead_letter_age_seconds: int = Field(default=86400, ge=0)


class Writeback(_Strict):
    dead_letter: DeadLetter
    retry: Retry
    queue_health: QueueHealth = QueueHealth()
    #: sObject Collections carry at most 200 records; larger sets go through Bulk API 2.0
    bulk_threshold: int = Field(ge=1)
    targets: list[WriteTarget] = Field(min_length=1)


class SensitivityClass(_Strict):
    """A kind of sensitive value, where it appears, and its treatment per channel."""

    category: Category
    description: str = Field(min_length=1)
    #: `system:Object.path` (paths: dots, `[]` for list items, `*` for any key)
    fields: list[str] = []
    #: key names that denote this class anywhere in any record (case-insensitive)
    keys: list[str] = []
    treatment: dict[str, Treatment]
    scrub: list[ScrubKind] = []
    #: for tax documents: the status fields that may flow downstream instead of the values
    status_metadata: list[str] = []


class Hashing(_Strict):
    salt_env: str
    salt_file: str
    digest_chars: int = Field(ge=12, le=64)


class QuarantineRule(_Strict):
    """What `ops.quarantine` keeps of a record or page that would not parse.

    `exact`: the raw text and bytes as received (only where the warehouse's quarantine is as
    protected as its raw layer); `masked`: the raw text masked for the `dlq` channel (parsed
    JSON through the sensitivity classes, anything else scrubbed for their patterns);
    `none`: no raw text, only its sha256 and length.
    """

    keep_raw: Literal["exact", "masked", "none"] = "masked"


class Sensitivity(_Strict):
    hashing: Hashing
    classes: dict[str, SensitivityClass] = Field(min_length=1)
    quarantine: QuarantineRule = QuarantineRule()


class Gate(_Strict):
    """A compliance status that blocks actions, and what the person downstream should do."""

    check: str
    applies_to: str
    blocking_statuses: list[str] = Field(min_length=1)
    blocks: list[str] = Field(min_length=1)
    reason: str = Field(min_length=1)
    next_step: str = Field(min_length=1)
    #: a subject with no status for `check` is held (`block`, fail-closed) unless the contract
    #: says the gate lets it through (`allow`)
    on_missing: Literal["block", "allow"] = "block"


class Compliance(_Strict):
    #: check name -> the statuses it can report (the vocabulary gates may name)
    statuses: dict[str, list[str]] = Field(min_length=1)
    actions: list[str] = Field(min_length=1)
    gates: dict[str, Gate] = Field(min_length=1)
    #: check -> the warehouse table (`schema.table`, columns subject_id and status) holding
    #: that status where the billing platform does not (AML screening); a check with no source
    #: has no status, which its gates treat as `on_missing` says
    status_sources: dict[str, str] = {}


class Flow(_Strict):
    """A data path: ingestion (never paused by a kill switch) or a write path."""

    kind: Literal["ingestion", "write"]
    phase: str
    description: str = Field(min_length=1)
    writes_to: str | None = None
    max_writes_per_run: int | None = Field(default=None, ge=1)


class Automation(_Strict):
    """One automation class (phase `automation`; `q2c.writeback.automations`): its own rollout
    flow (phase, kill switch, rollback), the reconciliation it needs clean, and its target."""

    #: the `rollout` write flow whose phase must be `automation` and whose kill switch stops it
    rollout_flow: str
    #: the `reconciliation.thresholds` entry rec_verdict must hold for this class (None: only
    #: its inputs must be free of data-quality findings, as for notifications about breaks)
    thresholds: str | None = "automation"
    #: systems whose data-quality findings stop the class
    input_systems: list[str] = []
    #: customer-facing classes stop on `q2c incident pause`; replay runs them in this order
    customer_facing: bool = True
    replay_stage: Literal["financial", "subscription", "support"] = "support"
    #: CRM classes: the object, its external id (upsert) and the fields set
    object: str | None = None
    match_on: str | None = None
    fields: list[str] = []
    #: renewal opportunities: how long before a period ends, the stage a new one opens in
    renewal_window_days: int = Field(default=90, ge=1)
    renewal_stage: str = "Prospecting"
    #: finance notifications: a break above this |difference| (minor units per currency)
    notify_break_minor: dict[str, int] = {}


class Threshold(_Strict):
    """What must hold in reconciliation before a phase may run."""

    max_break_rate_bps: int = Field(ge=0, le=10_000)
    max_unexplained_minor: dict[str, int]
    max_open_breaks: dict[str, int]


class Reconciliation(_Strict):
    break_kinds: list[str] = Field(min_length=1)
    thresholds: dict[str, Threshold]


class OutputGate(_Strict):
    """The gate of one outgoing flow (`q2c.gates`): the rollout flow whose phase and kill switch
    it obeys, the thresholds `rec_verdict` must meet, and the bounds of the batch it lets out."""

    #: the `rollout` write flow (phase, kill switch, write set of its writeback target)
    rollout_flow: str
    #: phases of that flow in which the gate may pass
    phases: list[Phase] = Field(min_length=1)
    #: the `reconciliation.thresholds` entry whose every row must hold in rec_verdict
    thresholds: str
    #: the dbt models the flow sends from (their error tests must pass)
    models: list[str] = Field(min_length=1)
    #: systems whose data-quality findings (breaks of kind data_quality) hold the records
    #: they concern (when `data_quality` is one of `blocking_break_kinds`)
    input_systems: list[str] = []
    #: break kinds that concern this flow: a record whose objects carry an open break of one
    #: is held out of the batch with the reason (reconciliation.gate_holds) and the rest goes;
    #: the `thresholds` are measured over these kinds only (reconciliation.gate_verdict),
    #: so only a systemic share of such breaks refuses the whole batch
    blocking_break_kinds: list[str] = []
    #: the held share of the flow's records (break_rate_bps) is judged only once more than
    #: this many records are held: below it each held record is just held (one held case of
    #: 35 is not a systemic 2.9%)
    held_floor: int = Field(default=0, ge=0)
    #: largest amount one outgoing row may carry, in minor units (None: no bound)
    max_amount_minor: int | None = Field(default=None, ge=0)
    #: a batch may have at most this percentage of the previous passed batch's rows ...
    max_rows_vs_previous_pct: int | None = Field(default=None, ge=1)
    #: ... unless it has at most this many rows (small batches never trip the check)
    row_count_floor: int = Field(default=0, ge=0)


#: Stripe's subscription statuses (https://docs.stripe.com/api/subscriptions/object#subscription_object-status)
SUBSCRIPTION_STATUSES = (
    "incomplete",
    "incomplete_expired",
    "trialing",
    "active",
    "past_due",
    "canceled",
    "unpaid",
    "paused",
)
#: Stripe's invoice statuses (https://docs.stripe.com/api/invoices/object#invoice_object-status)
INVOICE_STATUSES = ("draft", "open", "paid", "uncollectible", "void")


class Rules(_Strict):
    """Company finance rules the SQL models read (compiled to `policy__rules`)."""

    billing_status_precedence: list[str] = Field(min_length=1)
    mrr_subscription_statuses: list[str] = Field(min_length=1)
    dunning_statuses: list[str] = Field(min_length=1)
    posted_invoice_statuses: list[str] = Field(min_length=1)
    invoice_posting_date: Literal["finalized_at", "created", "effective_at"]
    posting_grace_days: int = Field(ge=0, le=60)
    reverse_charge_countries: list[str] = Field(min_length=1)
    integration_username: str = Field(min_length=3)
    payment_retry_days: list[int] = Field(min_length=1)
    event_duplicate_window_seconds: int = Field(ge=0)
    event_late_seconds: int = Field(ge=1)


class GlAccount(_Strict):
    acctnumber: str
    acctname: str
    accttype: Literal["Bank", "AcctRec", "Income", "OthCurrLiab", "Expense", "OthCurrAsset"]
    #: bank accounts hold one currency (lowercase ISO, as billing amounts carry it)
    currency: str | None = None


class Erp(_Strict):
    chart_of_accounts: dict[str, GlAccount] = Field(min_length=1)


class ForeignAccount(_Strict):
    """A financial account held outside the United States, booked on a bank GL account."""

    #: ISO country where the account is held
    country: str = Field(pattern=r"^[A-Z]{2}$")
    institution: str = Field(min_length=1)
    #: the bank's account number or IBAN: the report shows at most its first six and last four
    account_number: str = Field(min_length=5)


class Fbar(_Strict):
    """FBAR: report when the aggregate maximum value of the foreign accounts exceeds the
    threshold at any time in the calendar year (31 CFR 1010.306: due April 15, automatic
    extension to October 15). Values are each account's highest balance in its ERP bank GL
    account, converted at the Treasury's year-end rates (foreign units per US dollar)."""

    threshold_minor: int = Field(default=1_000_000, ge=0)  # USD 10,000.00
    #: `erp.chart_of_accounts` role (a Bank account with a currency) -> the account abroad
    foreign_accounts: dict[str, ForeignAccount] = Field(min_length=1)
    #: year -> currency -> Treasury Reporting Rate of Exchange on Dec 31 (units per USD), as text
    treasury_rates: dict[int, dict[str, str]] = {}


class Reporting(_Strict):
    """The period report (`q2c report`): the reporting currency, materiality per currency and
    who prepares and reviews it (keys of `stakeholders`)."""

    #: lowercase ISO code; amounts stay in their own currency (the report converts nothing)
    currency: str = Field(pattern=r"^[a-z]{3}$")
    #: a tie-out difference at or under this many minor units of its currency is immaterial;
    #: a currency not listed has no materiality (every difference is material)
    materiality_minor: dict[str, int] = Field(min_length=1)
    preparer: str | None = None
    reviewer: str | None = None
    #: FBAR (FinCEN Report 114) screening of the company's financial accounts abroad
    fbar: Fbar | None = None


#: q2c's canonical words per value map: what the models compare after mapping. A map's
#: canonical words always map to themselves (`past_due`, `Past Due` and `PAST-DUE` are all
#: `past_due` when the map is case-insensitive).
CANONICAL_VALUES: dict[str, tuple[str, ...]] = {
    # Account.Billing_Status__c against billing's status of the account
    "billing_status": (*SUBSCRIPTION_STATUSES, "none"),
    # Opportunity.StageName (a stage no map names falls back to IsWon/IsClosed)
    "opportunity_stage": ("open", "closed_won", "closed_lost"),
    # Case.Status and Case.Priority
    "case_status": ("new", "working", "waiting", "escalated", "closed"),
    "case_priority": ("low", "medium", "high", "critical"),
}


def normalize_value(value: str, *, case_insensitive: bool = True) -> str:
    """The key a picklist value is looked up by: trimmed, every run of characters other than
    letters and digits one space, lowercased when the map is case-insensitive.

    The SQL side (`normalized_value` in dbt_project/macros/value_maps.sql) does the same.
    """
    key = re.sub(r"[^A-Za-z0-9]+", " ", value).strip()
    return key.lower() if case_insensitive else key


class ValueMap(_Strict):
    """One picklist or status: the org's labels or API values -> q2c's canonical word.

    `values` lists only what differs from the canonical words (`Cancelled: canceled`); the
    canonical words themselves always match. A value the map does not name is a data-quality
    finding, never a mismatch.
    """

    values: dict[str, str] = {}
    case_insensitive: bool = True

    def lookup(self, canonical: tuple[str, ...]) -> dict[str, str]:
        """Normalized key -> canonical word, canonical words included."""
        norm = {"case_insensitive": self.case_insensitive}
        table = {normalize_value(word, **norm): word for word in canonical}
        table.update({normalize_value(k, **norm): v for k, v in self.values.items()})
        return table


def _default_value_maps() -> dict[str, ValueMap]:
    return {
        "billing_status": ValueMap(
            values={
                "Cancelled": "canceled",
                "Overdue": "past_due",
                "Delinquent": "past_due",
                "Trial": "trialing",
                "In Trial": "trialing",
                "No Subscription": "none",
            }
        ),
        "opportunity_stage": ValueMap(
            values={"Won": "closed_won", "Closed - Won": "closed_won", "Lost": "closed_lost"}
        ),
        "case_status": ValueMap(
            values={
                "In Progress": "working",
                "On Hold": "waiting",
                "Waiting on Customer": "waiting",
                "Resolved": "closed",
            }
        ),
        "case_priority": ValueMap(values={"Urgent": "critical", "Normal": "medium"}),
    }


class BillingCrmLink(_Strict):
    """The id fields that link a billing object and a CRM record (either may be missing)."""

    #: key of the billing object's `metadata` naming the CRM record
    billing_metadata_key: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    #: API name of the CRM field naming the billing object
    crm_field: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")


class ErpLink(_Strict):
    """How an ERP record names its billing object."""

    #: ERP customer column holding the billing customer id
    customer_field: str = Field(default="externalid", pattern=r"^[a-z][a-z0-9_]*$")
    #: ERP transaction column holding the billing object id (`externalid`, or a custom body
    #: field such as `custbody_stripe_id`)
    transaction_field: str = Field(default="externalid", pattern=r"^[a-z][a-z0-9_]*$")
    #: prefix of the external ids of the journals q2c exports (`q2c-<kind>-<billing id>`)
    export_prefix: str = Field(default="q2c", pattern=r"^[a-z0-9_]+$")
    #: a billing id written in the memo (hand-keyed postings); the memo itself never leaves
    #: staging, only the id this pattern finds (POSIX regex, the whole match is the id)
    memo_id_pattern: str | None = "(in|ch|re|cn|po)_[A-Za-z0-9]+"


class Links(_Strict):
    customer_account: BillingCrmLink = BillingCrmLink(
        billing_metadata_key="salesforce_account_id", crm_field="Billing_Customer_Id__c"
    )
    subscription_deal: BillingCrmLink = BillingCrmLink(
        billing_metadata_key="salesforce_opportunity_id", crm_field="Billing_Subscription_Id__c"
    )
    #: the Case field naming its Account
    case_account_field: str = Field(default="AccountId", pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    erp: ErpLink = ErpLink()


MatchTier = Literal["explicit_id", "external_id", "rule"]


class Matching(_Strict):
    """How records without a shared id are matched, tier by tier.

    explicit_id: a CRM field or billing metadata key names the other side (`links`);
    external_id: the ERP record's external id (or document number, or an id in its memo);
    rule: same account and currency, amount within tolerance, dates within the window. Two
    candidates for one record is an `ambiguous_match` break, never a pick.
    """

    tiers: list[MatchTier] = Field(default=["explicit_id", "external_id", "rule"], min_length=1)
    #: amounts equal within this many minor units ...
    amount_tolerance_minor: int = Field(default=0, ge=0)
    #: ... or within this many basis points of the billing amount (whichever is larger)
    amount_tolerance_bps: int = Field(default=0, ge=0, le=10_000)
    #: a deal's close date and its subscription's start (or an ERP posting's date and its
    #: invoice's date) at most this many days apart
    date_window_days: int = Field(default=45, ge=0, le=366)
    #: two ERP postings of the same type, customer, amount and currency this many days apart
    #: or less are one duplicated
    duplicate_window_days: int = Field(default=0, ge=0, le=31)
    #: how a deal's Amount compares with its subscription: `annual` (12 x monthly value of
    #: the subscription's items) or `monthly`
    deal_amount_basis: Literal["annual", "monthly"] = "annual"


class CompanyMapping(_Strict):
    """Everything that differs between orgs' systems: values, link fields, matching."""

    value_maps: dict[str, ValueMap] = Field(default_factory=_default_value_maps)
    links: Links = Links()
    matching: Matching = Matching()

    def value_map(self, name: str) -> ValueMap:
        return self.value_maps.get(name) or _default_value_maps()[name]


class Contract(_Strict):
    """The whole ownership contract."""

    version: Literal[1]
    company: str
    systems: dict[str, System] = Field(min_length=1)
    stakeholders: dict[str, Person] = Field(min_length=1)
    entities: dict[str, Entity] = Field(min_length=1)
    exceptions: list[OwnershipException] = []
    writeback: Writeback
    sensitivity: Sensitivity
    compliance: Compliance
    rollout: dict[str, Flow] = Field(min_length=1)
    reconciliation: Reconciliation
    #: one gate per outgoing flow (q2c.gates.FLOWS); a flow without one never passes
    output_gates: dict[str, OutputGate] = {}
    rules: Rules
    erp: Erp
    #: how this company's fields, values and records map onto q2c's (defaults suit most orgs)
    mapping: CompanyMapping = CompanyMapping()
    #: the period report; without it the report shows no materiality and no sign-off names
    reporting: Reporting | None = None
    #: automation classes by name (`q2c.writeback.automations.CLASSES`)
    automations: dict[str, Automation] = {}

    # ---- effective values (defaults resolved) ------------------------------------------
    def field_owner(self, entity: str, field: str) -> str | None:
        """The owner written on the field, else the entity's default owner, else None."""
        e = self.entities[entity]
        return e.fields[field].owner or e.defaults.owner

    def field_resolution(self, entity: str, field: str) -> Resolution | None:
        e = self.entities[entity]
        return e.fields[field].resolution or e.defaults.resolution

    def field_sync(self, entity: str, field: str) -> Sync:
        """The field's sync with each unset part taken from the entity's sync."""
        e = self.entities[entity]
        own = e.fields[field].sync or Sync()
        merged = {k: getattr(own, k) or getattr(e.sync, k) for k in Sync.model_fields}
        return Sync(**merged)

    def sor(self, entity: str) -> str:
        value = self.entities[entity].system_of_record
        return value if isinstance(value, str) else value[0]

    def find_field(self, system: str, ref: str) -> tuple[str, str] | None:
        """The (entity, field) whose source in `system` is `ref` (`Account.MRR__c`)."""
        for ename, e in self.entities.items():
            for fname, f in e.fields.items():
                if f.sources.get(system) == ref:
                    return ename, fname
        return None

    def write_set(self) -> list[tuple[WriteTarget, str]]:
        """Every (target, field API name) the pipeline may write."""
        return [(t, f) for t in self.writeback.targets for f in t.fields]

    def threshold_for(self, phase: str) -> Threshold | None:
        return self.reconciliation.thresholds.get(phase)

    @property
    def max_receive_count(self) -> int:
        return self.writeback.dead_letter.max_receive_count

    def gl_account(self, role: str) -> GlAccount:
        return self.erp.chart_of_accounts[role]

    def bank_account_for(self, currency: str) -> GlAccount:
        """The ERP bank account that receives payouts in `currency`.

        Raises:
            KeyError: the contract maps no bank account for that currency.
        """
        for account in self.erp.chart_of_accounts.values():
            if account.accttype == "Bank" and account.currency == currency.lower():
                return account
        raise KeyError(f"no ERP bank account for currency {currency!r} in the contract")


__all__ = ["CHANNELS", "PHASES", "Contract", "duration_seconds"]
