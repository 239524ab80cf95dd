-- Accounting identity of every platform payout: amount = sum of the net amounts of the
-- balance transactions in its payout-scoped list. A payout where it does not hold must be
-- reported as a `payout_sum_mismatch` break (never a silent difference). Rows returned are
-- unexplained payouts.
select
    payouts.payout_id,
    payouts.payout_amount,
    payouts.settled_net_amount
from {{ ref('int_payouts__balance_transactions') }} as payouts
where payouts.is_platform_payout
    and not payouts.is_deleted
    and payouts.payout_status in ('paid', 'in_transit', 'pending')
    and payouts.payout_amount <> payouts.settled_net_amount
    and not exists (
        select 1 from {{ ref('rec_payouts') }} as breaks
        where breaks.break_kind = 'payout_sum_mismatch'
            and breaks.source_object_id = payouts.payout_id
    )
