{#- The annual value of each subscription, as a deal states it: at its start (the quantities of
    its first invoice's subscription lines, or its items' quantities when it has no invoice
    yet) and now (its items' current quantities), in integer minor units of its currency,
    before discounts and tax. A deal's Amount is compared with either (rule matching of
    int_opportunities__matched_to_subscriptions). One row per subscription. -#}
with

subscriptions as (

    select * from {{ ref('stg_billing__subscriptions') }}
    where not is_deleted

),

items as (

    select
        subscription_id,
        subscription_item_id,
        quantity,
        unit_amount,
        billing_interval_count,
        -- price intervals per year of the item's price (divided by its interval_count)
        case billing_interval
            when 'month' then 12
            when 'year' then 1
            when 'week' then 52
            when 'day' then 365
        end as intervals_per_year
    from {{ ref('stg_billing__subscription_items') }}
    where not is_deleted

),

-- the quantity each item started with: its line on the subscription's first invoice
first_lines as (

    select subscription_item_id, quantity
    from (
        select
            lines.subscription_item_id,
            lines.quantity,
            row_number() over (
                partition by lines.subscription_item_id
                order by lines.period_start_at, lines.invoice_line_id
            ) as line_rank
        from {{ ref('stg_billing__invoice_lines') }} as lines
        where lines.subscription_item_id is not null
            and not lines.is_proration
            and lines.quantity is not null
    ) as ranked
    where line_rank = 1

),

final as (

    select
        subscriptions.subscription_id,
        subscriptions.customer_id,
        subscriptions.currency,
        cast(subscriptions.started_at as date) as start_date,
        -- exact: integer minor units times whole intervals, divided once, rounded to the unit
        cast(round(sum(
            cast(items.unit_amount * coalesce(first_lines.quantity, items.quantity)
                * items.intervals_per_year as numeric(24, 6)) / items.billing_interval_count
        )) as bigint) as annual_value_at_start_minor,
        cast(round(sum(
            cast(items.unit_amount * items.quantity * items.intervals_per_year as numeric(24, 6))
                / items.billing_interval_count
        )) as bigint) as annual_value_now_minor
    from subscriptions
    inner join items
        on subscriptions.subscription_id = items.subscription_id
    left join first_lines
        on items.subscription_item_id = first_lines.subscription_item_id
    group by subscriptions.subscription_id, subscriptions.customer_id, subscriptions.currency,
        subscriptions.started_at

)

select * from final
