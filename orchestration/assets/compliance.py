"""Compliance holds as a Dagster asset: `compliance/holds` after the billing accounts and
customers land (before dbt: the CRM payload model reads the holds); writes
`reconciliation.compliance_holds` (q2c/compliance/holds.py).

Every connected account and business customer of the reverse-charge countries is evaluated
against the contract's compliance gates for every action (payout release, activation, reverse
charge invoicing, write-back); a missing status holds (fail-closed) unless the gate says
`on_missing: allow`. Metadata: holds per gate and status (no ids).

`compliance/payout_releases` then releases the payouts of connected accounts on a manual
payout schedule that nothing holds (q2c/compliance/payouts.py, through the billing API with
`Stripe-Account` and an idempotency key). Metadata: counts only.
"""

# no `from __future__ import annotations`: Dagster reads the signature at definition time
import dagster as dg

from extractors.billing.client import BillingCredentials
from extractors.billing.payouts import StripePayoutClient
from orchestration.policies import WAREHOUSE_POOL
from orchestration.resources import BillingApiResource, WarehouseResource
from q2c.compliance.holds import compute_holds, subjects_from_warehouse, write_holds
from q2c.compliance.payouts import release_payouts
from q2c.policy import load_contract


@dg.asset(
    key=["compliance", "holds"],
    group_name="compliance",
    deps=[
        dg.AssetKey(["raw", "billing", "account"]),
        dg.AssetKey(["raw", "billing", "customer"]),
    ],
    pool=WAREHOUSE_POOL,
    kinds={"python"},
    automation_condition=dg.AutomationCondition.eager(),
    description="What the contract's compliance gates hold (payout release, activation, reverse "
    "charge, write-back), fail-closed on a missing status: reconciliation.compliance_holds.",
)
def compliance_holds(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    contract = load_contract()
    with warehouse.open() as wh:
        subjects = subjects_from_warehouse(wh, contract)
        holds = compute_holds(contract, subjects)
        write_holds(wh, holds, context.run.run_id)
    counts: dict[str, int] = {}
    for h in holds:
        key = f"{h.gate}={h.status}"
        counts[key] = counts.get(key, 0) + 1
    return dg.MaterializeResult(
        metadata={
            "subjects": dg.MetadataValue.int(len(subjects)),
            "holds": dg.MetadataValue.int(len(holds)),
            "holds_by_gate_and_status": dg.MetadataValue.json(counts),
        }
    )


@dg.asset(
    key=["compliance", "payout_releases"],
    group_name="compliance",
    deps=[compliance_holds],
    pool=WAREHOUSE_POOL,
    kinds={"python", "stripe"},
    automation_condition=dg.AutomationCondition.eager(),
    description="Payouts of connected accounts on a manual payout schedule, released on the "
    "billing platform (Stripe-Account, idempotency key) only where no compliance hold or open "
    "review item applies and the contract's write set and rollout phase allow it.",
)
def payout_releases(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, billing: BillingApiResource
) -> dg.MaterializeResult:
    contract = load_contract()
    client = StripePayoutClient(
        BillingCredentials(api_base=billing.api_base, api_key=billing.api_key)
    )
    with warehouse.open() as wh:
        result = release_payouts(wh, contract, client, run_id=context.run.run_id)
    if result.stopped:
        context.log.info(f"payout release: {result.stopped}")
    return dg.MaterializeResult(
        metadata={
            "flow": result.flow or "-",
            "phase": result.phase or "-",
            "released": dg.MetadataValue.int(len(result.released)),
            "held_accounts": dg.MetadataValue.int(len(result.held)),
            "refused": dg.MetadataValue.int(len(result.refused)),
            "would_write": dg.MetadataValue.int(len(result.would_write)),
            "pending": dg.MetadataValue.int(result.pending),
        }
    )


compliance_assets = [compliance_holds, payout_releases]
