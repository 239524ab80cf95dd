{#- Subscriptions with their current MRR and ARR (int_subscriptions__current_mrr), the
    customer and account they belong to and the deal they came from. One row per billing
    subscription; amounts in integer minor units of `currency`. The
    monthly movement (new, expansion, contraction, churn, reactivation) is `fct_mrr_movements`.
-#}
with

subscriptions as (

    select * from {{ ref('stg_billing__subscriptions') }}

),

current_mrr as (

    select * from {{ ref('int_subscriptions__current_mrr') }}

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
        current_mrr.billing_interval,
        current_mrr.item_count,
        current_mrr.seat_count,

        ---------- amounts (integer minor units of `currency`)
        current_mrr.mrr_amount,
        current_mrr.mrr_amount * 12 as arr_amount,

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
    left join current_mrr
        on subscriptions.subscription_id = current_mrr.subscription_id
    left join customers
        on subscriptions.customer_id = customers.customer_id
    left join deals
        on subscriptions.subscription_id = deals.subscription_id

)

select * from final
