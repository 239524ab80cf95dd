{#- Current MRR of each subscription: the monthly list amount of its items (a yearly price
    counts 1/12 per month, rounded down to whole minor units), less a `forever` percentage
    coupon (a permanent price cut; `once` and `repeating` coupons are temporary and left out,
    as usual for MRR), for subscriptions in `q2c_mrr_statuses` (policy: active and past_due);
    0 otherwise. One row per subscription; amounts in integer minor units of `currency`. -#}
with

subscriptions as (

    select * from {{ ref('stg_billing__subscriptions') }}

),

items as (

    select
        subscription_id,
        count(*) as item_count,
        cast(sum(quantity) as bigint) as seat_count,
        min(billing_interval) as billing_interval,
        -- integer floor division: exact on both targets (no DOUBLE on DuckDB)
        cast(sum(
            {{ floor_divide(
                'unit_amount * quantity * case billing_interval'
                ~ " when 'month' then 12 when 'year' then 1 when 'week' then 52 when 'day' then 365 end",
                '12 * billing_interval_count'
            ) }}
        ) as bigint) as list_mrr_amount
    from {{ ref('stg_billing__subscription_items') }}
    where not is_deleted
    group by subscription_id

),

priced as (

    select
        subscriptions.*,
        coalesce(items.item_count, 0) as item_count,
        coalesce(items.seat_count, 0) as seat_count,
        items.billing_interval,
        coalesce(items.list_mrr_amount, 0) as list_mrr_amount,
        case
            when subscriptions.coupon_duration = 'forever'
                and subscriptions.coupon_percent_off is not null
                then cast(round(
                    cast(coalesce(items.list_mrr_amount, 0) as numeric(20, 4))
                    * subscriptions.coupon_percent_off * 0.01, 0
                ) as bigint)
            else 0
        end as discount_amount
    from subscriptions
    left join items
        on subscriptions.subscription_id = items.subscription_id

),

final as (

    select
        ---------- ids
        subscription_id,
        customer_id,

        ---------- attributes
        subscription_status,
        currency,
        billing_interval,
        item_count,
        seat_count,
        coupon_id,

        ---------- amounts (integer minor units of `currency`)
        list_mrr_amount,
        discount_amount,
        case
            when subscription_status in ({{ "'" ~ var('q2c_mrr_statuses') | join("', '") ~ "'" }})
                then list_mrr_amount - discount_amount
            else 0
        end as mrr_amount,

        ---------- flags
        is_deleted

    from priced

)

select * from final
