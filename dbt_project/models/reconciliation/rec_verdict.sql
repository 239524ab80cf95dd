{#- The "clean" verdict per rollout phase, against the contract's reconciliation thresholds
    (policy__reconciliation_thresholds):
      break_rate_bps     all open breaks per reconciled billing object, in basis points
      unexplained_minor  sum of |difference| of money breaks per currency, in minor units
      open_breaks        open breaks of one kind
    One row per threshold with the measured value and whether it holds (measured <= max: a
    value equal to the threshold passes); a phase is clean when every row of that phase passes
    (`is_phase_clean`). A metric that cannot be measured (no reconciled objects, an unknown
    metric) does not pass. -#}
with

thresholds as (

    select * from {{ ref('policy__reconciliation_thresholds') }}

),

-- data-quality findings gate each flow through its own inputs (q2c.gates), not the verdict
breaks as (

    select * from {{ ref('rec_breaks') }}
    where break_kind <> 'data_quality'

),

reconciled_objects as (

    select count(*) as object_count from (
        select invoice_id as object_id from {{ ref('stg_billing__invoices') }}
        union all
        select charge_id from {{ ref('stg_billing__charges') }}
        union all
        select refund_id from {{ ref('stg_billing__refunds') }}
        union all
        select payout_id from {{ ref('stg_billing__payouts') }}
        union all
        select customer_id from {{ ref('stg_billing__customers') }}
        union all
        select subscription_id from {{ ref('stg_billing__subscriptions') }}
    ) as objects

),

measured as (

    select
        thresholds.phase,
        thresholds.metric,
        thresholds.currency,
        thresholds.break_kind,
        thresholds.max_value,
        case thresholds.metric
            when 'break_rate_bps' then (
                select {{ floor_divide(
                    '10000 * count(*)',
                    'nullif((select object_count from reconciled_objects), 0)'
                ) }}
                from breaks
            )
            when 'unexplained_minor' then (
                select coalesce(
                    {{ major_to_minor('sum(abs(breaks.difference_amount))', 'thresholds.currency') }},
                    0
                )
                from breaks
                where breaks.currency = thresholds.currency
            )
            when 'open_breaks' then (
                select count(*) from breaks where breaks.break_kind = thresholds.break_kind
            )
        end as measured_value
    from thresholds

),

final as (

    select
        ---------- ids
        cast(
            phase || '|' || metric || '|' || coalesce(currency, '') || '|' || coalesce(break_kind, '')
            as {{ dbt.type_string() }}) as threshold_id,

        ---------- the threshold
        cast(phase as {{ dbt.type_string() }}) as phase,
        cast(metric as {{ dbt.type_string() }}) as metric,
        cast(currency as {{ dbt.type_string() }}) as currency,
        cast(break_kind as {{ dbt.type_string() }}) as break_kind,
        cast(max_value as bigint) as max_value,

        ---------- the measure
        cast(measured_value as bigint) as measured_value,
        coalesce(measured_value is not null and measured_value <= max_value, false) as is_passing,
        coalesce(
            bool_and(measured_value is not null and measured_value <= max_value)
                over (partition by phase),
            false
        ) as is_phase_clean

    from measured

)

select * from final
