"""What the write-back engine works with, and the `CrmWriter` it needs from the outside world.

The core never imports an adapter: `extractors.salesforce.writer.SalesforceWriter` implements
`CrmWriter`, and `orchestration/` plugs it in (ARCHITECTURE.md, layers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class FlowSpec:
    """One CRM write-back flow: its gate, its dbt payload model and how its rows name records.

    Attributes:
        gate_flow: the gate's flow name (`q2c.gates.FLOWS`): `crm_account_sync`.
        sobject: the CRM object; the contract's write target for it gives the rollout flow,
            the match field, the operation and the write set.
        sync_model: the dbt model with one row per (record, field): `sync.sync_...`.
        record_column: the column holding the CRM record id (`account_id`).
        match_column: the column holding the value of the target's `match_on` field
            (`billing_customer_id` for `Billing_Customer_Id__c`; the Id itself for `Id`).
    """

    gate_flow: str
    sobject: str
    sync_model: str
    record_column: str
    match_column: str
    #: the rollout flow of the write target (None: the contract's first target for `sobject`);
    #: an automation class writing an object a flow already writes names its own
    rollout_flow: str | None = None


@dataclass(frozen=True)
class CurrentRecord:
    """A record as the CRM holds it now (one SOQL per chunk)."""

    record_id: str
    match_value: str
    values: dict[str, Any]
    last_modified_by_id: str | None
    system_modstamp: str | None


@dataclass(frozen=True)
class RowError:
    """One error of one row: the provider's code, message and fields."""

    code: str
    message: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class WriteRow:
    """One record to write: how it is matched and the fields to set (text in API form)."""

    match_value: str
    values: dict[str, str | None]
    record_id: str | None = None


@dataclass(frozen=True)
class RowResult:
    """The CRM's answer for one `WriteRow` (same order as sent)."""

    match_value: str
    success: bool
    record_id: str | None = None
    created: bool = False
    errors: tuple[RowError, ...] = ()
    #: the row never reached the CRM's processing (a Bulk job's unprocessed records)
    unprocessed: bool = False


@dataclass
class WriterStats:
    """Requests a writer made, for Dagster metadata and the benchmark."""

    collection_calls: int = 0
    bulk_jobs: int = 0
    queries: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class CrmWriter(Protocol):
    """Reads and writes records of one CRM (Salesforce: SOQL, sObject Collections, Bulk 2.0)."""

    stats: WriterStats

    def integration_user_id(self, username: str) -> str | None:
        """The id of the user q2c writes as (its edits are not people's edits)."""
        ...

    def read_current(
        self, sobject: str, match_on: str, match_values: Sequence[str], fields: Sequence[str]
    ) -> dict[str, CurrentRecord]:
        """Current values of `fields` plus `LastModifiedById`/`SystemModstamp`, by match value."""
        ...

    def write(
        self,
        sobject: str,
        match_on: str,
        operation: str,
        rows: Sequence[WriteRow],
        *,
        bulk: bool,
    ) -> list[RowResult]:
        """Send `rows` (upsert on `match_on`, or update by Id), one result per row in order.

        `bulk`: Bulk API 2.0 ingest instead of sObject Collections (200 a call,
        `allOrNone=false`).
        """
        ...

    def updateable_fields(self, sobject: str) -> set[str]:
        """Fields the integration user may write on `sobject` (describe)."""
        ...

    def picklist_values(self, sobject: str, field: str) -> list[str]:
        """The active values of a picklist field (describe; empty for other fields)."""
        ...
