{#- Breaks per month and kind: how many, how much money is unexplained (per currency, in
    major units), and how old the oldest is. The break rate is breaks per object reconciled
    of that kind's entity in that month, in basis points, where the denominator is known.
    One row per (period_month, break_kind, currency). -#}
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
        coalesce(breaks.currency, '-') as currency,
        min(breaks.system_of_record) as system_of_record,
        min(breaks.reconciliation) as reconciliation,

        ---------- measures
        count(*) as break_count,
        cast(sum(abs(coalesce(breaks.difference_amount, 0))) as numeric(20, 2)) as unexplained_amount,
        max(breaks.age_days) as oldest_age_days

    from breaks
    group by breaks.period_month, breaks.break_kind, coalesce(breaks.currency, '-')

)

select * from final
