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
Operation = Literal["upsert", "update"]

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


class DeadLetter(_Strict):
    max_receive_count: int = Field(ge=1, le=100)


class Retry(_Strict):
    initial_backoff_seconds: int = Field(ge=0)
    max_backoff_seconds: int = Field(ge=0)


class Writeback(_Strict):
    dead_letter: DeadLetter
    retry: Retry
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


class Sensitivity(_Strict):
    hashing: Hashing
    classes: dict[str, SensitivityClass] = Field(min_length=1)


class Gate(_Strict):
    """A compliance status that blocks actions, and what the person downstream should do."""

    check: str
    applies_to: str
    blocking_statuses: list[str] = Field(min_length=1)
    blocks: list[str] = Field(min_length=1)
    reason: str = Field(min_length=1)
    next_step: str = Field(min_length=1)


class Compliance(_Strict):
    #: check name -> the statuses it can report (the vocabulary gates may name)
    statuses: dict[str, list[str]] = Field(min_length=1)
    actions: list[str] = Field(min_length=1)
    gates: dict[str, Gate] = Field(min_length=1)


class Flow(_Strict):
    """A data path: ingestion (never paused by a kill switch) or a write path."""

    kind: Literal["ingestion", "write"]
    phase: str
    description: str = Field(min_length=1)
    writes_to: str | None = None
    max_writes_per_run: int | None = Field(default=None, ge=1)


class Threshold(_Strict):
    """What must hold in reconciliation before a phase may run."""

    max_break_rate_bps: int = Field(ge=0, le=10_000)
    max_unexplained_minor: dict[str, int]
    max_open_breaks: dict[str, int]


class Reconciliation(_Strict):
    break_kinds: list[str] = Field(min_length=1)
    thresholds: dict[str, Threshold]


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
    rules: Rules
    erp: Erp

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
