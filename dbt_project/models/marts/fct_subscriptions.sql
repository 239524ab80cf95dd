{#- Subscriptions with their current MRR and ARR, the customer and account they belong to and
    the deal they came from. One row per billing subscription. MRR counts the items of
    subscriptions in `q2c_mrr_statuses`; amounts in integer minor units of `currency`. The
    monthly movement (new, expansion, contraction, churn, reactivation) is `fct_mrr_movements`.
-#}
with

subscriptions as (

    select * from {{ ref('stg_billing__subscriptions') }}

),

items as (

    select
        subscription_id,
        count(*) as item_count,
        cast(sum(quantity) as bigint) as seat_count,
        sum(
            cast(unit_amount * quantity as numeric(20, 4))
            * case billing_interval
                when 'month' then 1.0
                when 'year' then 1.0 / 12
                when 'week' then 52.0 / 12
                when 'day' then 365.0 / 12
            end
            / billing_interval_count
        ) as list_mrr_amount,
        min(billing_interval) as billing_interval
    from {{ ref('stg_billing__subscription_items') }}
    where not is_deleted
    group by subscription_id

),

customers as (

    select * from {{ ref('int_customers__resolved') }}

),

deals as (

    select
        subscription_id,
        min(opportunity_id) as opportunity_id
    from {{ ref('int_opportunities__matched_to_subscriptions') }}
    where subscription_id is not null
        and opportunity_id is not null
    group by subscription_id

),

final as (

    select
        ---------- ids
        subscriptions.subscription_id,
        subscriptions.customer_id,
        customers.salesforce_account_id,
        deals.opportunity_id,

        ---------- attributes
        subscriptions.subscription_status,
        subscriptions.currency,
        items.billing_interval,
        coalesce(items.item_count, 0) as item_count,
        coalesce(items.seat_count, 0) as seat_count,

        ---------- amounts (integer minor units of `currency`)
        case
            when subscriptions.subscription_status in ({{ "'" ~ var('q2c_mrr_statuses') | join("', '") ~ "'" }})
                then cast(round(coalesce(items.list_mrr_amount, 0), 0) as bigint)
            else 0
        end as mrr_amount,
        case
            when subscriptions.subscription_status in ({{ "'" ~ var('q2c_mrr_statuses') | join("', '") ~ "'" }})
                then cast(round(coalesce(items.list_mrr_amount, 0), 0) as bigint) * 12
            else 0
        end as arr_amount,

        ---------- dates
        subscriptions.created_at,
        subscriptions.started_at,
        subscriptions.current_period_start_at,
        subscriptions.current_period_end_at,
        subscriptions.trial_end_at,
        subscriptions.canceled_at,
        subscriptions.ended_at,

        ---------- flags
        subscriptions.is_cancel_at_period_end,
        subscriptions.is_deleted

    from subscriptions
    left join items
        on subscriptions.subscription_id = items.subscription_id
    left join customers
        on subscriptions.customer_id = customers.customer_id
    left join deals
        on subscriptions.subscription_id = deals.subscription_id

)

select * from final
