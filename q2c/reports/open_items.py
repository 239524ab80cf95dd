"""How finance works an open item: its category, the suggested action, its age bucket.

Categories (a close workpaper's three piles):
- `timing`: the other side will catch up on its own (a posting or sync not made yet);
- `adjusting entry`: a posting in the ERP is wrong or missing and needs a journal;
- `investigation`: someone must find out what happened before anything is posted.

One entry per break kind of the contract (`reconciliation.break_kinds`) plus `data_quality`;
tests/unit/test_reports_open_items.py fails when a kind has none.
"""

from __future__ import annotations

TIMING = "timing"
ADJUSTING_ENTRY = "adjusting entry"
INVESTIGATION = "investigation"

#: break kind -> (category, suggested action)
ACTIONS: dict[str, tuple[str, str]] = {
    "erp_invoice_missing": (ADJUSTING_ENTRY, "Post the invoice in the ERP (journal export)."),
    "erp_amount_mismatch": (ADJUSTING_ENTRY, "Correct the ERP posting to billing's amount."),
    "erp_currency_mismatch": (
        ADJUSTING_ENTRY,
        "Reverse the ERP posting and repost it in billing's currency.",
    ),
    "erp_wrong_period": (ADJUSTING_ENTRY, "Reclass the posting to billing's period."),
    "erp_duplicate_posting": (ADJUSTING_ENTRY, "Void the duplicate ERP posting."),
    "erp_payment_unapplied": (TIMING, "Apply the ERP payment to its invoice."),
    "erp_refund_missing": (ADJUSTING_ENTRY, "Post the customer refund in the ERP."),
    "payout_sum_mismatch": (
        INVESTIGATION,
        "Trace the payout's balance transactions with the billing platform.",
    ),
    "payout_not_posted": (TIMING, "Post the payout journal (clearing to bank)."),
    "crm_billing_status_stale": (TIMING, "Check the CRM after the next write-back run."),
    "deal_without_subscription": (
        INVESTIGATION,
        "Sales Ops: link the won deal to its subscription or reopen it.",
    ),
    "subscription_without_deal": (
        INVESTIGATION,
        "Sales Ops: link the subscription to its Closed Won opportunity.",
    ),
    "customer_without_account": (INVESTIGATION, "Sales Ops: link the customer to an Account."),
    "customer_linked_to_deleted_account": (
        INVESTIGATION,
        "Sales Ops: relink the customer to a live Account.",
    ),
    "event_duplicate": (TIMING, "None: a redelivery, processed once."),
    "event_out_of_order": (TIMING, "None: applied by event time; confirm the final state."),
    "event_late": (TIMING, "Confirm the late event was applied."),
    "case_dunning_without_priority": (
        TIMING,
        "Support: raise the billing priority flag (support case write-back).",
    ),
    "payout_to_unverified_account": (
        INVESTIGATION,
        "Treasury: hold further payouts until verification completes.",
    ),
    "invalid_eu_vat": (INVESTIGATION, "Tax: obtain a valid VAT number or charge VAT."),
    "ambiguous_match": (
        INVESTIGATION,
        "Pick the counterpart by hand: several records match equally well.",
    ),
    "data_quality": (INVESTIGATION, "Fix the source record; the finding clears on the next run."),
}

#: (label, first day, last day or None)
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-30", 0, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("90+", 91, None),
)


def age_bucket(age_days: int) -> str:
    """`0..30` -> "0-30", ..., `91+` -> "90+" (a negative age is a clock error: refused)."""
    if age_days < 0:
        raise ValueError(f"negative age {age_days}: occurred after the data's as-of time")
    for label, low, high in AGE_BUCKETS:
        if age_days >= low and (high is None or age_days <= high):
            return label
    raise AssertionError("unreachable")


def action_for(break_kind: str) -> tuple[str, str]:
    """(category, suggested action) of a break kind; an unknown kind needs investigation."""
    return ACTIONS.get(break_kind, (INVESTIGATION, "Unknown break kind: investigate."))
