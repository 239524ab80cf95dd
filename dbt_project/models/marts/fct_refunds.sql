{#- Refunds with the charge and invoice they return money from. One row per refund.
    Amounts in integer minor units of `currency`. -#}
with

refunds as (

    select * from {{ ref('stg_billing__refunds') }}

),

charges as (

    select * from {{ ref('stg_billing__charges') }}

),

erp_refunds as (

    select
        external_id,
        min(erp_transaction_id) as erp_transaction_id
    from {{ ref('int_erp_transactions__enriched') }}
    where transaction_type = 'CustRfnd'
        and not is_deleted
    group by external_id

),

final as (

    select
        ---------- ids
        refunds.refund_id,
        refunds.charge_id,
        charges.invoice_id,
        charges.customer_id,
        refunds.balance_transaction_id,
        erp_refunds.erp_transaction_id,

        ---------- attributes
        refunds.refund_status,
        refunds.refund_reason,
        refunds.currency,

        ---------- amounts (integer minor units of `currency`)
        refunds.amount,
        charges.amount as charge_amount,

        ---------- dates
        refunds.created_at,

        ---------- flags
        refunds.amount = charges.amount as is_full_refund,
        erp_refunds.erp_transaction_id is not null as is_posted_in_erp

    from refunds
    left join charges
        on refunds.charge_id = charges.charge_id
    left join erp_refunds
        on refunds.refund_id = erp_refunds.external_id

)

select * from final
