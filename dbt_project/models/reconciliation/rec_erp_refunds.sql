{#- Billing refunds against the ERP: every succeeded refund must be posted as a customer
    refund. Billing is the System of Record. Break `erp_refund_missing`. Refunds on invoices
    the ERP does not hold at all are left to `erp_invoice_missing` (nothing of such an invoice
    can be posted). One row per break. -#}
with

erp_invoices as (

    -- matched by any tier (int_erp_transactions__matched)
    select distinct billing_object_id
    from {{ ref('int_erp_transactions__matched') }}
    where posting_kind = 'invoice'
        and billing_object_id is not null

),

refunds as (

    select refunds.*
    from {{ ref('stg_billing__refunds') }} as refunds
    left join {{ ref('stg_billing__charges') }} as charges
        on refunds.charge_id = charges.charge_id
    where refunds.refund_status = 'succeeded'
        and not refunds.is_deleted
        and (
            charges.invoice_id is null
            or charges.invoice_id in (select billing_object_id from erp_invoices)
        )

),

erp_refunds as (

    select billing_object_id, min(erp_transaction_id) as erp_transaction_id
    from {{ ref('int_erp_transactions__enriched') }}
    where not is_deleted
        and (
            transaction_type = 'CustRfnd'
            or (transaction_type = 'Journal' and q2c_export_kind = 'refund')
        )
    group by billing_object_id

),

final as (

    {{ rec_select(
        kind='erp_refund_missing', entity='refund',
        source_system='billing', source_object_type='refund',
        source_object_id='refunds.refund_id',
        target_system="'erp'", target_object_type="'transaction'",
        source_amount=minor_to_major('refunds.amount', 'refunds.currency'),
        currency='refunds.currency',
        occurred_at='refunds.created_at',
        detail="'refund not posted in the ERP'",
        match_method="'unmatched'"
    ) }}
    from refunds
    {{ rec_from('refund') }}
    where not exists (
        select 1 from erp_refunds where erp_refunds.billing_object_id = refunds.refund_id
    )

)

select * from final
