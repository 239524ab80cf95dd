-- fct_mrr_movements (MRR from billed invoice lines spread over the months they cover) and
-- fct_subscriptions (current MRR from the subscription's items and forever coupons) agree per
-- customer and currency for the month the subscriptions' current period starts in, wherever
-- both describe the same thing: every subscription of the customer in that currency counts
-- toward MRR (q2c_mrr_statuses), has no temporary (once/repeating) coupon, and no discount on
-- its billed lines unless a forever coupon is in force now (a temporary coupon that ended
-- after the period was billed leaves a discounted invoice beside an undiscounted subscription:
-- a yearly plan billed with 20% off whose three-month coupon has since run out), starts its current
-- period in the same month, and that month's billed lines are exactly its current items (same
-- item, price and quantity, no proration; a quantity changed after the last invoice is billed
-- only next period, so the two legitimately differ then). Each subscription may differ by
-- one minor unit (a yearly price: fct_subscriptions floors 1/12, the spread rounds the month
-- sum). Rows returned are customers that disagree, plus one row if no customer at all could
-- be compared while MRR subscriptions exist (the test would otherwise pass on nothing).
with

subscriptions as (

    select
        subscriptions.subscription_id,
        subscriptions.customer_id,
        subscriptions.currency,
        subscriptions.subscription_status,
        subscriptions.mrr_amount,
        {{ month_start('subscriptions.current_period_start_at') }} as month_start,
        billing.coupon_duration
    from {{ ref('fct_subscriptions') }} as subscriptions
    inner join {{ ref('stg_billing__subscriptions') }} as billing
        on subscriptions.subscription_id = billing.subscription_id
    where not subscriptions.is_deleted

),

items as (

    select subscription_item_id, subscription_id, price_id, quantity
    from {{ ref('stg_billing__subscription_items') }}
    where not is_deleted

),

-- the billed subscription lines covering each subscription's current-period month
covering_lines as (

    select
        subscriptions.subscription_id,
        lines.subscription_item_id,
        lines.price_id,
        lines.quantity,
        lines.is_proration,
        lines.discount_amount
    from subscriptions
    inner join {{ ref('int_invoice_lines__spread_to_months') }} as spread
        on subscriptions.subscription_id = spread.subscription_id
        and subscriptions.month_start = spread.month_start
    inner join {{ ref('stg_billing__invoice_lines') }} as lines
        on spread.invoice_line_id = lines.invoice_line_id

),

line_match as (

    select
        covering_lines.subscription_id,
        count(*) as line_count,
        sum(case when covering_lines.is_proration then 1 else 0 end) as proration_count,
        sum(case when covering_lines.discount_amount > 0 then 1 else 0 end) as discounted_count,
        sum(case when items.subscription_item_id is not null then 1 else 0 end) as matched_count
    from covering_lines
    left join items
        on covering_lines.subscription_item_id = items.subscription_item_id
        and covering_lines.price_id = items.price_id
        and covering_lines.quantity = items.quantity
    group by covering_lines.subscription_id

),

item_counts as (

    select subscription_id, count(*) as item_count
    from items
    group by subscription_id

),

comparable_subscriptions as (

    select
        subscriptions.*,
        subscriptions.subscription_status in ({{ "'" ~ var('q2c_mrr_statuses') | join("', '") ~ "'" }})
            and case
                when subscriptions.coupon_duration is null then line_match.discounted_count = 0
                else subscriptions.coupon_duration = 'forever'
            end
            and line_match.proration_count = 0
            and line_match.line_count = item_counts.item_count
            and line_match.matched_count = item_counts.item_count as is_comparable
    from subscriptions
    left join line_match
        on subscriptions.subscription_id = line_match.subscription_id
    left join item_counts
        on subscriptions.subscription_id = item_counts.subscription_id

),

customers as (

    select
        customer_id,
        currency,
        min(month_start) as month_start,
        count(*) as subscription_count,
        sum(mrr_amount) as subscriptions_mrr_amount
    from comparable_subscriptions
    group by customer_id, currency
    having min(case when is_comparable then 1 else 0 end) = 1
        and min(month_start) = max(month_start)

),

compared as (

    select
        customers.customer_id,
        customers.currency,
        customers.month_start,
        customers.subscription_count,
        customers.subscriptions_mrr_amount,
        movements.mrr_amount as movements_mrr_amount
    from customers
    inner join {{ ref('fct_mrr_movements') }} as movements
        on customers.customer_id = movements.customer_id
        and customers.currency = movements.currency
        and customers.month_start = movements.month_start

)

select
    customer_id,
    currency,
    month_start,
    subscriptions_mrr_amount,
    movements_mrr_amount
from compared
where abs(subscriptions_mrr_amount - movements_mrr_amount) > subscription_count

union all

select
    cast(null as {{ dbt.type_string() }}),
    cast(null as {{ dbt.type_string() }}),
    cast(null as date),
    cast(null as bigint),
    cast(null as bigint)
where not exists (select 1 from compared)
    and exists (
        select 1 from subscriptions
        where subscription_status in ({{ "'" ~ var('q2c_mrr_statuses') | join("', '") ~ "'" }})
    )
