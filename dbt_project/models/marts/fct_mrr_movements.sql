{#- The monthly MRR movement of each customer (in its currency):
    new          previous month 0, never recurring before, this month > 0
    reactivation previous month 0, recurring at some earlier month, this month > 0
    expansion    previous > 0 and this month > previous
    contraction  previous > 0 and 0 < this month < previous
    churn        previous > 0 and this month 0
    unchanged    otherwise (both equal; both zero cannot happen in the dense series
                 except after churn, where it is `inactive`)
    One row per (customer, currency, month). -#}
with

monthly as (

    select * from {{ ref('int_customers__mrr_by_month') }}

),

with_history as (

    select
        monthly.*,
        coalesce(
            lag(mrr_amount) over (
                partition by customer_id, currency order by month_start
            ),
            0
        ) as previous_mrr_amount,
        coalesce(
            max(mrr_amount) over (
                partition by customer_id, currency
                order by month_start
                rows between unbounded preceding and 1 preceding
            ),
            0
        ) as max_earlier_mrr_amount
    from monthly

),

final as (

    select
        ---------- ids
        customer_month_id,
        customer_id,

        ---------- attributes
        currency,
        month_start,
        case
            when previous_mrr_amount = 0 and mrr_amount > 0 and max_earlier_mrr_amount = 0
                then 'new'
            when previous_mrr_amount = 0 and mrr_amount > 0 then 'reactivation'
            when previous_mrr_amount > 0 and mrr_amount = 0 then 'churn'
            when previous_mrr_amount > 0 and mrr_amount > previous_mrr_amount then 'expansion'
            when previous_mrr_amount > 0 and mrr_amount < previous_mrr_amount then 'contraction'
            when mrr_amount = 0 then 'inactive'
            else 'unchanged'
        end as movement_kind,

        ---------- amounts (integer minor units of `currency`)
        mrr_amount,
        previous_mrr_amount,
        mrr_amount - previous_mrr_amount as mrr_change_amount,
        mrr_amount * 12 as arr_amount

    from with_history

)

select * from final
