"""The CRM write-back flows q2c runs: one per gate flow (`q2c.gates.FLOWS`) that writes to the
CRM, each reading its dbt payload model. Which fields, which match field and which rollout flow
come from the contract's write target for the object (`writeback.targets`)."""

from __future__ import annotations

from q2c.writeback.model import FlowSpec

ACCOUNT_SYNC = FlowSpec(
    gate_flow="crm_account_sync",
    sobject="Account",
    sync_model="sync.sync_salesforce_account_fields",
    record_column="account_id",
    match_column="billing_customer_id",
)
CASE_SYNC = FlowSpec(
    gate_flow="crm_case_sync",
    sobject="Case",
    sync_model="sync.sync_salesforce_case_fields",
    record_column="case_id",
    match_column="case_id",
)
FLOWS: dict[str, FlowSpec] = {f.gate_flow: f for f in (ACCOUNT_SYNC, CASE_SYNC)}
