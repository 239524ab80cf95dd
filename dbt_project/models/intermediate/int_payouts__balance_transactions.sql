{#- Each payout against the balance transactions it settled, taken from the payout-scoped list
    (`?payout=`), not from a transaction's own `payout` field, which other tools found
    unreliable. The payout's own balance transaction (type `payout`) is not part of the sum.
    One row per payout. -#}
with

payouts as (

    select * from {{ ref('stg_billing__payouts') }}

),

settled as (

    select
        payout_id,
        count(*) as balance_transaction_count,
        cast(sum(net_amount) as bigint) as settled_net_amount,
        cast(sum(amount) as bigint) as settled_gross_amount,
        cast(sum(fee_amount) as bigint) as settled_fee_amount,
        min(currency) as settled_currency,
        count(distinct currency) as settled_currency_count
    from {{ ref('stg_billing__payout_balance_transactions') }}
    where balance_transaction_type <> 'payout'
        and not is_deleted
    group by payout_id

),

final as (

    select
        ---------- ids
        payouts.payout_id,
        payouts.destination_id,
        payouts.connected_account_id,
        payouts.balance_transaction_id,

        ---------- attributes
        payouts.payout_status,
        payouts.currency,

        ---------- amounts (integer minor units of `currency`)
        payouts.amount as payout_amount,
        coalesce(settled.settled_net_amount, 0) as settled_net_amount,
        coalesce(settled.settled_gross_amount, 0) as settled_gross_amount,
        coalesce(settled.settled_fee_amount, 0) as settled_fee_amount,
        payouts.amount - coalesce(settled.settled_net_amount, 0) as unexplained_amount,
        coalesce(settled.balance_transaction_count, 0) as balance_transaction_count,

        ---------- dates
        payouts.created_at,
        payouts.arrival_at,

        ---------- flags
        payouts.connected_account_id is null as is_platform_payout,
        coalesce(settled.settled_currency_count, 0) > 1 as has_mixed_currencies,
        payouts.is_deleted

    from payouts
    left join settled
        on payouts.payout_id = settled.payout_id

)

select * from final
