{#- Breaks per month and kind: how many, how much money is unexplained (per currency, sum of
    |difference_amount| in major units), and how old the oldest is. No break rate here: the
    rate of all breaks against the reconciled billing objects is rec_verdict's break_rate_bps.
    One row per (period_month, break_kind, currency); breaks without a currency under '-'. -#}
with

breaks as (

    select * from {{ ref('rec_breaks') }}

),

final as (

    select
        ---------- ids
        cast(breaks.period_month as {{ dbt.type_string() }}) || '|' || breaks.break_kind || '|'
            || coalesce(breaks.currency, '-') as summary_id,

        ---------- grain
        breaks.period_month,
        breaks.break_kind,
        cast(coalesce(breaks.currency, '-') as {{ dbt.type_string() }}) as currency,
        min(breaks.system_of_record) as system_of_record,
        min(breaks.reconciliation) as reconciliation,

        ---------- measures
        cast(count(*) as bigint) as break_count,
        cast(sum(abs(coalesce(breaks.difference_amount, 0))) as numeric(22, 3)) as unexplained_amount,
        cast(max(breaks.age_days) as integer) as oldest_age_days

    from breaks
    group by breaks.period_month, breaks.break_kind, coalesce(breaks.currency, '-')

)

select * from final
