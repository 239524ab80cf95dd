{#- Billing invoices against their ERP postings (billing is the System of Record; the ERP
    holds the posted receivable). Every postable invoice (int_invoices__postable) must be
    posted exactly once, in its currency, for its total, in the accounting period that holds
    the invoice's date. Postings are matched to invoices tier by tier
    (int_erp_transactions__matched: external id, content copy, rule). Breaks:
      erp_invoice_missing     no posting for the invoice
      erp_duplicate_posting   one row per posting beyond the first (named postings first,
                              then the lowest ERP id; a hand-keyed copy found by its content
                              is one too)
      erp_currency_mismatch   the first posting's currency differs
      erp_amount_mismatch     same currency, different total
      erp_wrong_period        the first posting's period does not hold the invoice date
      ambiguous_match         an ERP invoice without an id that the rule matches to two or
                              more invoices (or that shares its one candidate): none picked
    Every break carries the tier that paired its sides (match_method, confidence).
    One row per break. -#}
with

invoice_dates as (

    select * from {{ ref('int_invoices__postable') }}

),

matched as (

    select * from {{ ref('int_erp_transactions__matched') }}
    where posting_kind = 'invoice'

),

postings as (

    select
        matched.*,
        row_number() over (
            partition by matched.billing_object_id
            order by case when matched.is_content_duplicate then 1 else 0 end,
                matched.erp_transaction_id
        ) as posting_rank
    from matched
    where matched.billing_object_id is not null

),

missing as (

    {{ rec_select(
        kind='erp_invoice_missing', entity='invoice',
        source_system='billing', source_object_type='invoice',
        source_object_id='invoice_dates.invoice_id',
        target_system="'erp'", target_object_type="'transaction'",
        source_amount='invoice_dates.total_major',
        currency='invoice_dates.currency',
        occurred_at='invoice_dates.posting_date',
        detail="'invoice has no ERP posting'",
        match_method="'unmatched'"
    ) }}
    from invoice_dates
    {{ rec_from('invoice') }}
    where not exists (
        select 1 from postings where postings.billing_object_id = invoice_dates.invoice_id
    )
        -- a candidate of an ambiguous posting is reported by that posting's ambiguous_match
        and not exists (
            select 1 from matched
            where matched.is_ambiguous
                and position(', ' || invoice_dates.invoice_id || ', '
                    in ', ' || matched.ambiguous_candidates || ', ') > 0
        )

),

duplicates as (

    {{ rec_select(
        kind='erp_duplicate_posting', entity='invoice',
        source_system='billing', source_object_type='invoice',
        source_object_id='invoice_dates.invoice_id',
        target_system="'erp'", target_object_type="'transaction'",
        target_object_id='postings.erp_transaction_id',
        source_amount='invoice_dates.total_major',
        target_amount='postings.foreign_total',
        currency='invoice_dates.currency', target_currency='postings.currency',
        occurred_at='invoice_dates.posting_date',
        detail="'invoice posted more than once'",
        match_method='postings.match_method'
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
        postings.match_method,
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
        source_amount='first_postings.total_major',
        target_amount='first_postings.erp_total',
        currency='first_postings.currency', target_currency='first_postings.erp_currency',
        occurred_at='first_postings.posting_date',
        detail="'posted in ' || coalesce(upper(first_postings.erp_currency), '?') || ', billed in ' || upper(first_postings.currency)",
        match_method='first_postings.match_method'
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
        source_amount='first_postings.total_major',
        target_amount='first_postings.erp_total',
        currency='first_postings.currency', target_currency='first_postings.erp_currency',
        occurred_at='first_postings.posting_date',
        detail="'posted total differs from the invoice total'",
        match_method='first_postings.match_method'
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
        source_amount='first_postings.total_major',
        target_amount='first_postings.erp_total',
        currency='first_postings.currency', target_currency='first_postings.erp_currency',
        occurred_at='first_postings.posting_date',
        detail="'posted in period ' || coalesce(first_postings.posting_period_name, '?') || ' for an invoice dated ' || cast(first_postings.posting_date as " ~ dbt.type_string() ~ ")",
        match_method='first_postings.match_method'
    ) }}
    from first_postings
    {{ rec_from('invoice') }}
    where first_postings.posting_period_start is null
        or first_postings.posting_date < first_postings.posting_period_start
        or first_postings.posting_date > first_postings.posting_period_end

),

ambiguous as (

    {{ rec_select(
        kind='ambiguous_match', entity='invoice',
        source_system='erp', source_object_type='transaction',
        source_object_id='matched.erp_transaction_id',
        target_system="'billing'", target_object_type="'invoice'",
        source_amount='matched.foreign_total',
        currency='matched.currency',
        occurred_at='matched.transaction_date',
        detail="'ERP invoice without an id matches several billing invoices by customer, amount and date: ' || matched.ambiguous_candidates",
        match_method="'rule'"
    ) }}
    from matched
    {{ rec_from('invoice') }}
    where matched.is_ambiguous

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
    union all
    select * from ambiguous

)

select * from final
