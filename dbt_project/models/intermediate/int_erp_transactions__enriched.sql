{#- ERP transactions with their currency code, posting period, customer's billing id and the
    totals of their lines. One row per ERP transaction. -#}
with

transactions as (

    select * from {{ ref('stg_erp__transactions') }}

),

currencies as (

    select * from {{ ref('stg_erp__currencies') }}

),

periods as (

    select * from {{ ref('stg_erp__accounting_periods') }}

),

customers as (

    select * from {{ ref('stg_erp__customers') }}

),

line_totals as (

    select
        erp_transaction_id,
        count(*) as line_count,
        cast(sum(debit_amount) as numeric(20, 2)) as debit_total,
        cast(sum(credit_amount) as numeric(20, 2)) as credit_total
    from {{ ref('stg_erp__transaction_lines') }}
    where not is_deleted
    group by erp_transaction_id

),

final as (

    select
        ---------- ids
        transactions.erp_transaction_id,
        transactions.tran_id,
        transactions.external_id,
        transactions.typed_billing_id,
        -- the billing object a posting is for: the external id itself for finance's own
        -- postings (in_..., ch_..., fee_<txn>, po_...), or without the `q2c-<kind>-` prefix
        -- for the journals the pipeline exported (export_erp_journal_lines; billing ids have
        -- no `-`)
        case
            when transactions.external_id like '{{ link_field('erp.export_prefix') }}-%'
                then split_part(transactions.external_id, '-', 3)
            else transactions.external_id
        end as billing_object_id,
        case
            when transactions.external_id like '{{ link_field('erp.export_prefix') }}-%'
                then split_part(transactions.external_id, '-', 2)
        end as q2c_export_kind,
        transactions.erp_customer_id,
        customers.billing_customer_id,
        transactions.posting_period_id,

        ---------- attributes
        transactions.transaction_type,
        transactions.transaction_status,
        currencies.currency,
        periods.period_name as posting_period_name,

        ---------- amounts (exact decimals, major units of `currency`)
        transactions.foreign_total,
        coalesce(line_totals.debit_total, 0) as debit_total,
        coalesce(line_totals.credit_total, 0) as credit_total,
        coalesce(line_totals.line_count, 0) as line_count,

        ---------- dates
        transactions.transaction_date,
        periods.start_date as posting_period_start,
        periods.end_date as posting_period_end,
        transactions.created_at,
        transactions.last_modified_at,

        ---------- flags
        transactions.is_deleted

    from transactions
    left join currencies
        on transactions.currency_id = currencies.currency_id
    left join periods
        on transactions.posting_period_id = periods.accounting_period_id
    left join customers
        on transactions.erp_customer_id = customers.erp_customer_id
    left join line_totals
        on transactions.erp_transaction_id = line_totals.erp_transaction_id

)

select * from final
