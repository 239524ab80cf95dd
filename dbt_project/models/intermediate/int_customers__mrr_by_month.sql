{#- Monthly recurring revenue per customer and currency, dense: every month from the
    customer's first recurring month to the month after its last (so churn shows as a zero)
    or the current month, whichever is earlier. One row per (customer, currency, month). -#}
with

spread as (

    select * from {{ ref('int_invoice_lines__spread_to_months') }}

),

by_month as (

    select
        customer_id,
        currency,
        month_start,
        sum(monthly_amount) as mrr_amount
    from spread
    group by customer_id, currency, month_start

),

current_month as (

    select {{ month_start('max(extracted_at)') }} as month_start
    from {{ ref('stg_billing__invoices') }}

),

customer_span as (

    select
        by_month.customer_id,
        by_month.currency,
        min(by_month.month_start) as first_month,
        max(by_month.month_start) as last_month
    from by_month
    group by by_month.customer_id, by_month.currency

),

months as (

    {{ month_series(
        '(select min(first_month) from customer_span)',
        '(select max(month_start) from current_month)'
    ) }}

),

dense as (

    select
        customer_span.customer_id,
        customer_span.currency,
        months.month_start
    from customer_span
    cross join current_month
    inner join months
        on months.month_start >= customer_span.first_month
        and months.month_start <= {{ add_months('customer_span.last_month', 1) }}
        and months.month_start <= current_month.month_start

),

final as (

    select
        ---------- ids
        dense.customer_id || '|' || dense.currency || '|'
            || cast(dense.month_start as {{ dbt.type_string() }}) as customer_month_id,
        dense.customer_id,

        ---------- attributes
        dense.currency,
        dense.month_start,

        ---------- amounts (minor units of `currency`, rounded to whole units)
        cast(round(coalesce(by_month.mrr_amount, 0), 0) as bigint) as mrr_amount

    from dense
    left join by_month
        on dense.customer_id = by_month.customer_id
        and dense.currency = by_month.currency
        and dense.month_start = by_month.month_start

)

select * from final
