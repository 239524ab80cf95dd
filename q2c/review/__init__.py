"""Manual review: red flags found in the warehouse open review items in `ops.review_items`,
each with its approval packet; an open item holds its subject out of its flow's automation
until a person resolves it (`q2c review list|show|resolve`).

Red flags (`detect_red_flags`):
- `break_above_materiality`: a reconciliation break whose |difference| is above the contract's
  materiality for its currency (`reporting.materiality_minor`);
- `credit_notes_exceed_invoice`: credit notes (not void) of an invoice total more than the
  invoice (a credit or reversal pattern that does not fit the invoice totals);
- `repeated_idempotency_collisions`: one write (idempotency key) found already done three
  times or more in the audit trail (`skipped_duplicate`);
- `crm_owned_field_changed_without_source_event`: a version of a CRM Account whose q2c-owned
  field (MRR, ARR, billing status, last payment date, payout hold reason) changed, saved by
  someone else than the integration user (`rules.integration_username`).
"""

from q2c.review.queue import (
    FLAGS,
    RedFlag,
    ReviewItem,
    detect_red_flags,
    ensure_table,
    held_subjects,
    list_items,
    open_items,
    resolve,
)

__all__ = [
    "FLAGS",
    "RedFlag",
    "ReviewItem",
    "detect_red_flags",
    "ensure_table",
    "held_subjects",
    "list_items",
    "open_items",
    "resolve",
]
