-- Every exported line's source_ref is `billing:<object>:<id>` and names an object billing
-- holds: an invoice, a charge (payments), a refund, a payout, a dispute, a Connect transfer,
-- or a balance transaction (fees).
-- Rows returned are lines whose source reference points nowhere.
with

billing_objects as (

    select 'billing:invoice:' || invoice_id as source_ref from {{ ref('stg_billing__invoices') }}
    union all
    select 'billing:charge:' || charge_id from {{ ref('stg_billing__charges') }}
    union all
    select 'billing:refund:' || refund_id from {{ ref('stg_billing__refunds') }}
    union all
    select 'billing:payout:' || payout_id from {{ ref('stg_billing__payouts') }}
    union all
    select 'billing:dispute:' || dispute_id from {{ ref('stg_billing__disputes') }}
    union all
    select 'billing:transfer:' || transfer_id from {{ ref('stg_billing__transfers') }}
    union all
    select 'billing:balance_transaction:' || balance_transaction_id
    from {{ ref('stg_billing__balance_transactions') }}

)

select lines.line_external_id, lines.source_ref
from {{ ref('export_erp_journal_lines') }} as lines
left join billing_objects
    on lines.source_ref = billing_objects.source_ref
where billing_objects.source_ref is null
