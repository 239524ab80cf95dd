{#- Recurring revenue by month: each subscription line of a billed invoice spread over the
    months its service period covers. A month is covered when the period runs through the
    first instant of the next month (so a monthly period 15 Jan - 15 Feb counts for January
    only, an annual one for twelve months). The line's net amount (after discounts, before
    tax) is divided evenly over its months. One row per (invoice line, month). -#}
with

lines as (

    select * from {{ ref('stg_billing__invoice_lines') }}
    where line_type = 'subscription'
        and not is_deleted

),

invoices as (

    select * from {{ ref('stg_billing__invoices') }}
    where invoice_status in ('open', 'paid', 'uncollectible')
        and not is_deleted

),

billed_lines as (

    select
        lines.invoice_line_id,
        lines.invoice_id,
        invoices.customer_id,
        lines.subscription_id,
        lines.currency,
        lines.amount - lines.discount_amount as net_amount,
        lines.period_start_at,
        lines.period_end_at
    from lines
    inner join invoices
        on lines.invoice_id = invoices.invoice_id
    where lines.period_end_at > lines.period_start_at

),

bounds as (

    select
        min({{ month_start('period_start_at') }}) as first_month,
        max({{ month_start('period_end_at') }}) as last_month
    from billed_lines

),

months as (

    {{ month_series('(select first_month from bounds)', '(select last_month from bounds)') }}

),

covered as (

    select
        billed_lines.*,
        months.month_start,
        count(*) over (partition by billed_lines.invoice_line_id) as months_covered
    from billed_lines
    inner join months
        on billed_lines.period_start_at < {{ add_months('months.month_start', 1) }}
        and billed_lines.period_end_at >= {{ add_months('months.month_start', 1) }}

),

final as (

    select
        ---------- ids
        invoice_line_id || '|' || cast(month_start as {{ dbt.type_string() }}) as line_month_id,
        invoice_line_id,
        invoice_id,
        customer_id,
        subscription_id,

        ---------- attributes
        currency,
        month_start,
        months_covered,

        ---------- amounts (minor units of `currency`; exact decimal, rounded to 1/10000 unit)
        {{ divide_exact('net_amount', 'months_covered', scale=4, precision=20) }} as monthly_amount

    from covered

)

select * from final
