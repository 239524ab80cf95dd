"""Jobs: what runs together, chosen by how soon a stale copy would hurt.

Contract:
- `billing_frequent_job`: payments, subscription state, charges, refunds, disputes and the
  billing change log (re-reads of changed objects, deletions): run every 15 minutes.
- `billing_daily_job`: customers, catalogue, invoices, credit notes, balance, payouts, Connect.
- `billing_full_relist_job`: every billing object re-listed in full (run tag
  `q2c/billing_mode=full`), tombstoning what the API stopped listing: weekly.
- `billing_backfill_job`: monthly partitions over `created` (defined next to the billing assets).
- `billing_jobs`: the list `orchestration/definitions.py` adds (Salesforce and ERP jobs live
  next to their assets: `salesforce_jobs`, `erp_jobs`).
"""

from __future__ import annotations

import dagster as dg

from orchestration.assets.billing import (
    ALL_KEYS,
    DAILY_KEYS,
    FREQUENT_KEYS,
    billing_backfill_job,
)
from orchestration.policies import MODE_TAG

billing_frequent_job = dg.define_asset_job(
    "billing_frequent_job",
    selection=dg.AssetSelection.assets(*FREQUENT_KEYS),
    description=(
        "Payments, subscriptions, charges, refunds, disputes and the billing change log "
        "(changed invoices and customers are re-read from it; deletions land as tombstones)."
    ),
    tags={"source": "billing"},
)
billing_daily_job = dg.define_asset_job(
    "billing_daily_job",
    selection=dg.AssetSelection.assets(*DAILY_KEYS),
    description="Customers, catalogue, invoices, credit notes, balance, payouts, Connect.",
    tags={"source": "billing"},
)
billing_full_relist_job = dg.define_asset_job(
    "billing_full_relist_job",
    selection=dg.AssetSelection.assets(*ALL_KEYS),
    description=(
        "Re-list every billing object in full and land tombstones for objects the API no longer "
        "lists: catches deletions and changes older than the 30-day event window."
    ),
    tags={"source": "billing", MODE_TAG: "full"},
)

billing_jobs = [
    billing_frequent_job,
    billing_daily_job,
    billing_full_relist_job,
    billing_backfill_job,
]
jobs = [*billing_jobs]
