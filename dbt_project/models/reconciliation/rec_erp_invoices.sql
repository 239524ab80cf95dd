{#- Billing invoices against their ERP postings (billing is the System of Record; the ERP
    holds the posted receivable). Every finalized invoice (open, paid, uncollectible) must be
    posted exactly once, in its currency, for its total, in the accounting period that holds
    the invoice's date. Breaks:
      erp_invoice_missing     no posting for the invoice
      erp_duplicate_posting   one row per posting beyond the first (lowest ERP id)
      erp_currency_mismatch   the first posting's currency differs
      erp_amount_mismatch     same currency, different total
      erp_wrong_period        the first posting's period does not hold the invoice date
    One row per break. -#}
with

invoices as (

    select * from {{ ref('stg_billing__invoices') }}
    where invoice_status in ({{ "'" ~ var('q2c_posted_invoice_statuses') | join("', '") ~ "'" }})
        and not is_deleted

),

postings as (

    select
        erp.*,
        row_number() over (
            partition by erp.billing_object_id order by erp.erp_transaction_id
        ) as posting_rank
    from {{ ref('int_erp_transactions__enriched') }} as erp
    where not erp.is_deleted
        and (
            erp.transaction_type = 'CustInvc'
            or (erp.transaction_type = 'Journal' and erp.q2c_export_kind = 'invoice')
        )

),

invoice_dates as (

    select
        invoices.*,
        cast({{ var('q2c_invoice_posting_date_column') }} as date) as posting_date
    from invoices

),

missing as (

    {{ rec_select(
        kind='erp_invoice_missing', entity='invoice',
        source_system='billing', source_object_type='invoice',
        source_object_id='invoice_dates.invoice_id',
        target_system="'erp'", target_object_type="'transaction'",
        source_amount=minor_to_major('invoice_dates.total_amount', 'invoice_dates.currency'),
        currency='invoice_dates.currency',
        occurred_at='invoice_dates.posting_date',
        detail="'invoice has no ERP posting'"
    ) }}
    from invoice_dates
    {{ rec_from('invoice') }}
    where not exists (
        select 1 from postings where postings.billing_object_id = invoice_dates.invoice_id
    )

),

duplicates as (

    {{ rec_select(
        kind='erp_duplicate_posting', entity='invoice',
        source_system='billing', source_object_type='invoice',
        source_object_id='invoice_dates.invoice_id',
        target_system="'erp'", target_object_type="'transaction'",
        target_object_id='postings.erp_transaction_id',
        source_amount=minor_to_major('invoice_dates.total_amount', 'invoice_dates.currency'),
        target_amount='postings.foreign_total',
        currency='invoice_dates.currency', target_currency='postings.currency',
        occurred_at='invoice_dates.posting_date',
        detail="'invoice posted more than once'"
    ) }}
    from invoice_dates
    inner join postings
        on invoice_dates.invoice_id = postings.billing_object_id
        and postings.posting_rank > 1
    {{ rec_from('invoice') }}

),

first_postings as (

    select
        invoice_dates.*,
        postings.erp_transaction_id,
        postings.foreign_total as erp_total,
        postings.currency as erp_currency,
        postings.posting_period_name,
        postings.posting_period_start,
        postings.posting_period_end
    from invoice_dates
    inner join postings
        on invoice_dates.invoice_id = postings.billing_object_id
        and postings.posting_rank = 1

),

currency_mismatches as (

    {{ rec_select(
        kind='erp_currency_mismatch', entity='invoice',
        source_system='billing', source_object_type='invoice',
        source_object_id='first_postings.invoice_id',
        target_system="'erp'", target_object_type="'transaction'",
        target_object_id='first_postings.erp_transaction_id',
        source_amount=minor_to_major('first_postings.total_amount', 'first_postings.currency'),
        target_amount='first_postings.erp_total',
        currency='first_postings.currency', target_currency='first_postings.erp_currency',
        occurred_at='first_postings.posting_date',
        detail="'posted in ' || coalesce(upper(first_postings.erp_currency), '?') || ', billed in ' || upper(first_postings.currency)"
    ) }}
    from first_postings
    {{ rec_from('invoice') }}
    where first_postings.erp_currency is distinct from first_postings.currency

),

amount_mismatches as (

    {{ rec_select(
        kind='erp_amount_mismatch', entity='invoice',
        source_system='billing', source_object_type='invoice',
        source_object_id='first_postings.invoice_id',
        target_system="'erp'", target_object_type="'transaction'",
        target_object_id='first_postings.erp_transaction_id',
        source_amount=minor_to_major('first_postings.total_amount', 'first_postings.currency'),
        target_amount='first_postings.erp_total',
        currency='first_postings.currency', target_currency='first_postings.erp_currency',
        occurred_at='first_postings.posting_date',
        detail="'posted total differs from the invoice total'"
    ) }}
    from first_postings
    {{ rec_from('invoice') }}
    where first_postings.erp_currency = first_postings.currency
        and first_postings.erp_total is distinct from {{ minor_to_major('first_postings.total_amount', 'first_postings.currency') }}

),

period_mismatches as (

    {{ rec_select(
        kind='erp_wrong_period', entity='invoice',
        source_system='billing', source_object_type='invoice',
        source_object_id='first_postings.invoice_id',
        target_system="'erp'", target_object_type="'transaction'",
        target_object_id='first_postings.erp_transaction_id',
        source_amount=minor_to_major('first_postings.total_amount', 'first_postings.currency'),
        target_amount='first_postings.erp_total',
        currency='first_postings.currency', target_currency='first_postings.erp_currency',
        occurred_at='first_postings.posting_date',
        detail="'posted in period ' || coalesce(first_postings.posting_period_name, '?') || ' for an invoice dated ' || cast(first_postings.posting_date as " ~ dbt.type_string() ~ ")"
    ) }}
    from first_postings
    {{ rec_from('invoice') }}
    where first_postings.posting_period_start is null
        or first_postings.posting_date < first_postings.posting_period_start
        or first_postings.posting_date > first_postings.posting_period_end

),

final as (

    select * from missing
    union all
    select * from duplicates
    union all
    select * from currency_mismatches
    union all
    select * from amount_mismatches
    union all
    select * from period_mismatches

)

select * from final
