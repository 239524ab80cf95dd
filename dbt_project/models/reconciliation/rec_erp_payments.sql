{#- Billing payments against the ERP: every succeeded charge on a postable invoice must be in
    the ERP as a customer payment applied to that invoice's receivable. Billing is the System
    of Record. Break `erp_payment_unapplied`: the payment is not in the ERP at all (target
    null), or it is there but not applied to the invoice (target = the ERP payment). A
    payment of an invoice the ERP lacks is its own break too (finance makes two entries),
    linked to that invoice's `erp_invoice_missing` by `related_break_id`. ERP invoices and
    payments are matched to billing tier by tier (int_erp_transactions__matched); the ERP
    payment compared is the first one (named first, then the lowest ERP id). An ERP payment
    without an id that the rule matches to two or more charges is an `ambiguous_match`.
    One row per break. -#}
with

charges as (

    select * from {{ ref('stg_billing__charges') }}
    where charge_status = 'succeeded'
        and invoice_id is not null
        and not is_deleted

),

invoices as (

    select invoice_id from {{ ref('int_invoices__postable') }}

),

matched as (

    select * from {{ ref('int_erp_transactions__matched') }}
    where billing_object_id is not null

),

erp_invoices as (

    select billing_object_id, min(erp_transaction_id) as erp_transaction_id
    from matched
    where posting_kind = 'invoice'
    group by billing_object_id

),

-- the first ERP payment of each charge: id, total and tier from that one row
erp_payments as (

    select billing_object_id, erp_transaction_id, foreign_total, match_method
    from (
        select
            billing_object_id,
            erp_transaction_id,
            foreign_total,
            match_method,
            row_number() over (
                partition by billing_object_id
                order by case when is_content_duplicate then 1 else 0 end, erp_transaction_id
            ) as payment_rank
        from matched
        where posting_kind = 'payment'
    ) as ranked
    where payment_rank = 1

),

ambiguous_postings as (

    select ambiguous_candidates
    from {{ ref('int_erp_transactions__matched') }}
    where posting_kind = 'invoice'
        and is_ambiguous

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
        coalesce(erp_payments.match_method, 'unmatched') as match_method,
        -- applied to any posting of the invoice (a copy posted first still holds it)
        exists (
            select 1
            from links
            inner join matched as invoice_postings
                on links.previous_transaction_id = invoice_postings.erp_transaction_id
            where invoice_postings.posting_kind = 'invoice'
                and invoice_postings.billing_object_id = charges.invoice_id
                and links.next_transaction_id = erp_payments.erp_transaction_id
        ) as is_applied,
        -- the invoice's own erp_invoice_missing break exists (it is not a candidate of an
        -- ambiguous ERP posting, which rec_erp_invoices reports instead)
        erp_invoices.erp_transaction_id is null and not exists (
            select 1 from ambiguous_postings
            where position(', ' || charges.invoice_id || ', '
                in ', ' || ambiguous_postings.ambiguous_candidates || ', ') > 0
        ) as is_invoice_missing
    from charges
    inner join invoices
        on charges.invoice_id = invoices.invoice_id
    left join erp_invoices
        on charges.invoice_id = erp_invoices.billing_object_id
    left join erp_payments
        on charges.charge_id = erp_payments.billing_object_id

),

unapplied as (

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
        detail="case when payments.erp_invoice_id is null then 'the ERP lacks invoice ' || payments.invoice_id || case when payments.erp_payment_id is null then ' and this payment' else '; its payment is not applied' end when payments.erp_payment_id is null then 'payment not in the ERP' else 'ERP payment not applied to invoice ' || payments.invoice_id end",
        match_method='payments.match_method',
        related_break_id="case when payments.is_invoice_missing then " ~ rec_break_id('erp_invoice_missing', 'payments.invoice_id') ~ " end"
    ) }}
    from payments
    {{ rec_from('payment') }}
    where payments.erp_payment_id is null
        or not payments.is_applied

),

ambiguous as (

    {{ rec_select(
        kind='ambiguous_match', entity='payment',
        source_system='erp', source_object_type='transaction',
        source_object_id='matched_all.erp_transaction_id',
        target_system="'billing'", target_object_type="'charge'",
        source_amount='matched_all.foreign_total',
        currency='matched_all.currency',
        occurred_at='matched_all.transaction_date',
        detail="'ERP payment without an id matches several billing payments by customer, amount and date: ' || matched_all.ambiguous_candidates",
        match_method="'rule'"
    ) }}
    from {{ ref('int_erp_transactions__matched') }} as matched_all
    {{ rec_from('payment') }}
    where matched_all.posting_kind = 'payment'
        and matched_all.is_ambiguous

),

final as (

    select * from unapplied
    union all
    select * from ambiguous

)

select * from final
