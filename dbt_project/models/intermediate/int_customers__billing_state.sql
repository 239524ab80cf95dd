{#- What billing says about each customer now: its billing status (the most pressing status
    among its subscriptions, in the order of `billing_status_precedence`), its current MRR
    (int_subscriptions__current_mrr), and its last successful payment. One row per billing
    customer. -#}
{%- set precedence = var('q2c_billing_status_precedence') %}
with

customers as (

    select * from {{ ref('stg_billing__customers') }}

),

subscriptions as (

    select * from {{ ref('stg_billing__subscriptions') }}
    where not is_deleted

),

status_ranked as (

    select
        customer_id,
        min(
            case subscription_status
                {%- for status in precedence %}
                when '{{ status }}' then {{ loop.index }}
                {%- endfor %}
                else {{ precedence | length + 1 }}
            end
        ) as status_rank,
        count(*) as subscription_count,
        max(subscriptions.subscription_id) as any_subscription_id
    from subscriptions
    group by customer_id

),

customer_mrr as (

    select
        customer_id,
        min(currency) as mrr_currency,
        cast(sum(mrr_amount) as bigint) as mrr_amount,
        sum(case when mrr_amount > 0 then 1 else 0 end) as live_subscription_count
    from {{ ref('int_subscriptions__current_mrr') }}
    where not is_deleted
    group by customer_id

),

payments as (

    select
        customer_id,
        created_at as last_payment_at,
        charge_id as last_payment_charge_id
    from (
        select
            customer_id,
            created_at,
            charge_id,
            row_number() over (
                partition by customer_id order by created_at desc, charge_id desc
            ) as payment_rank
        from {{ ref('stg_billing__charges') }}
        where charge_status = 'succeeded'
            and not is_deleted
    ) as ranked
    where payment_rank = 1

),

final as (

    select
        ---------- ids
        customers.customer_id,

        ---------- state
        case status_ranked.status_rank
            {%- for status in precedence %}
            when {{ loop.index }} then '{{ status }}'
            {%- endfor %}
            else 'none'
        end as billing_status,
        coalesce(customer_mrr.mrr_currency, customers.currency) as currency,
        coalesce(status_ranked.subscription_count, 0) as subscription_count,
        coalesce(customer_mrr.live_subscription_count, 0) as live_subscription_count,

        ---------- amounts (integer minor units of `currency`)
        coalesce(customer_mrr.mrr_amount, 0) as mrr_amount,
        coalesce(customer_mrr.mrr_amount, 0) * 12 as arr_amount,

        ---------- dates
        payments.last_payment_at,
        cast(payments.last_payment_at as date) as last_payment_date,
        payments.last_payment_charge_id,

        ---------- flags
        status_ranked.status_rank is not null
            and status_ranked.status_rank <= {{ precedence | length }}
            and case status_ranked.status_rank
                {%- for status in precedence %}
                when {{ loop.index }} then '{{ status }}'
                {%- endfor %}
            end in ({{ "'" ~ var('q2c_dunning_statuses') | join("', '") ~ "'" }}) as is_in_dunning,
        customers.is_deleted

    from customers
    left join status_ranked
        on customers.customer_id = status_ranked.customer_id
    left join customer_mrr
        on customers.customer_id = customer_mrr.customer_id
    left join payments
        on customers.customer_id = payments.customer_id

)

select * from final
