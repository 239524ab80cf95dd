{#- Payouts with the balance transactions they settled (the payout-scoped list) and their ERP
    cash posting. One row per payout. Amounts in integer minor units of `currency`. -#}
with

payouts as (

    select * from {{ ref('int_payouts__balance_transactions') }}

),

erp_postings as (

    select
        external_id,
        min(erp_transaction_id) as erp_transaction_id
    from {{ ref('int_erp_transactions__enriched') }}
    where transaction_type = 'Journal'
        and not is_deleted
    group by external_id

),

final as (

    select
        ---------- ids
        payouts.payout_id,
        payouts.destination_id,
        erp_postings.erp_transaction_id,

        ---------- attributes
        payouts.payout_status,
        payouts.currency,

        ---------- amounts (integer minor units of `currency`)
        payouts.payout_amount,
        payouts.settled_net_amount,
        payouts.settled_gross_amount,
        payouts.settled_fee_amount,
        payouts.unexplained_amount,
        payouts.balance_transaction_count,

        ---------- dates
        payouts.created_at,
        payouts.arrival_at,

        ---------- flags
        payouts.unexplained_amount = 0 as is_fully_explained,
        erp_postings.erp_transaction_id is not null as is_posted_in_erp

    from payouts
    left join erp_postings
        on payouts.payout_id = erp_postings.external_id

)

select * from final
