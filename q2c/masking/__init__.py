"""Masking: one policy-driven function for everything that leaves the pipeline.

`mask_record(record, MaskContext(channel, system, object))` masks a record for a channel (logs,
events, dagster_metadata, exports, crm, support_views, writeback, dlq, audit) with the
contract's sensitivity treatments (drop, hash, redact, mask, allow) and scrubs free text;
`mask_value` applies one treatment; `mask_text` scrubs a string; `MaskingFilter` /
`install_log_masking` apply it to logging. PII never goes to logs.
"""

from q2c.masking.logging_filter import MaskingFilter, install_log_masking
from q2c.masking.policy import MaskContext, MaskingPolicy, default_policy
from q2c.masking.records import mask_record, mask_text, mask_value
from q2c.masking.scrub import scrub_text
from q2c.masking.treatments import hash_value, mask_account_number

__all__ = [
    "MaskContext",
    "MaskingFilter",
    "MaskingPolicy",
    "default_policy",
    "hash_value",
    "install_log_masking",
    "mask_account_number",
    "mask_record",
    "mask_text",
    "mask_value",
    "scrub_text",
]
