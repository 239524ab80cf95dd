{#- Payments: every charge attempt (succeeded or failed), with its balance transaction's fee
    and net. One row per charge. Amounts in integer minor units of `currency`. -#}
with

charges as (

    select * from {{ ref('stg_billing__charges') }}

),

balance_transactions as (

    select * from {{ ref('stg_billing__balance_transactions') }}

),

erp_payments as (

    select
        external_id,
        min(erp_transaction_id) as erp_transaction_id
    from {{ ref('int_erp_transactions__enriched') }}
    where transaction_type = 'CustPymt'
        and not is_deleted
    group by external_id

),

final as (

    select
        ---------- ids
        charges.charge_id,
        charges.customer_id,
        charges.invoice_id,
        charges.payment_intent_id,
        charges.balance_transaction_id,
        erp_payments.erp_transaction_id,

        ---------- attributes
        charges.charge_status,
        charges.failure_code,
        charges.currency,

        ---------- amounts (integer minor units of `currency`)
        charges.amount,
        charges.amount_captured,
        charges.amount_refunded,
        coalesce(balance_transactions.fee_amount, 0) as fee_amount,
        balance_transactions.net_amount,

        ---------- dates
        charges.created_at,
        {{ month_start('charges.created_at') }} as payment_month,

        ---------- flags
        charges.charge_status = 'succeeded' as is_succeeded,
        charges.is_refunded,
        charges.is_disputed,
        erp_payments.erp_transaction_id is not null as is_posted_in_erp

    from charges
    left join balance_transactions
        on charges.balance_transaction_id = balance_transactions.balance_transaction_id
    left join erp_payments
        on charges.charge_id = erp_payments.external_id

)

select * from final
