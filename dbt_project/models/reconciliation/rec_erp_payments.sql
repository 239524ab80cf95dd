{#- Billing payments against the ERP: every succeeded charge on an invoice must be in the ERP
    as a customer payment applied to that invoice's receivable. Billing is the System of
    Record. Break `erp_payment_unapplied`: the payment is not in the ERP at all (target null),
    or it is there but not applied to the invoice (target = the ERP payment). Payments of
    invoices the ERP does not hold are left to `erp_invoice_missing`. The ERP payment (and
    invoice) compared is the first one by ERP id; its id and total come from that one row.
    One row per break. -#}
with

charges as (

    select * from {{ ref('stg_billing__charges') }}
    where charge_status = 'succeeded'
        and invoice_id is not null
        and not is_deleted

),

erp as (

    select * from {{ ref('int_erp_transactions__enriched') }}
    where not is_deleted

),

erp_invoices as (

    select billing_object_id, min(erp_transaction_id) as erp_transaction_id
    from erp
    where transaction_type = 'CustInvc'
        or (transaction_type = 'Journal' and q2c_export_kind = 'invoice')
    group by billing_object_id

),

-- the first ERP payment of each charge (lowest ERP id): id and total from that one row
erp_payments as (

    select billing_object_id, erp_transaction_id, foreign_total
    from (
        select
            billing_object_id,
            erp_transaction_id,
            foreign_total,
            row_number() over (
                partition by billing_object_id order by erp_transaction_id
            ) as payment_rank
        from erp
        where transaction_type = 'CustPymt'
            or (transaction_type = 'Journal' and q2c_export_kind = 'payment')
    ) as ranked
    where payment_rank = 1

),

links as (

    select distinct previous_transaction_id, next_transaction_id
    from {{ ref('stg_erp__transaction_links') }}
    where not is_deleted

),

payments as (

    select
        charges.*,
        erp_invoices.erp_transaction_id as erp_invoice_id,
        erp_payments.erp_transaction_id as erp_payment_id,
        erp_payments.foreign_total as erp_payment_total,
        exists (
            select 1 from links
            where links.previous_transaction_id = erp_invoices.erp_transaction_id
                and links.next_transaction_id = erp_payments.erp_transaction_id
        ) as is_applied
    from charges
    inner join erp_invoices
        on charges.invoice_id = erp_invoices.billing_object_id
    left join erp_payments
        on charges.charge_id = erp_payments.billing_object_id

),

final as (

    {{ rec_select(
        kind='erp_payment_unapplied', entity='payment',
        source_system='billing', source_object_type='charge',
        source_object_id='payments.charge_id',
        target_system="'erp'", target_object_type="'transaction'",
        target_object_id='payments.erp_payment_id',
        source_amount=minor_to_major('payments.amount_captured', 'payments.currency'),
        target_amount='payments.erp_payment_total',
        currency='payments.currency',
        occurred_at='payments.created_at',
        detail="case when payments.erp_payment_id is null then 'payment not in the ERP' else 'ERP payment not applied to invoice ' || payments.invoice_id end"
    ) }}
    from payments
    {{ rec_from('payment') }}
    where payments.erp_payment_id is null
        or not payments.is_applied

)

select * from final
