{#- Each output gate's systemic verdict (q2c.gates): the thresholds of the gate's phase
    (policy__reconciliation_thresholds) measured over what concerns the flow: the open breaks
    of its kinds (output_gates.<flow>.blocking_break_kinds) on the records its batch carries
    (gate_holds over gate_records). A single break holds its records and the rest goes; only
    a share over these thresholds refuses the whole batch:
      break_rate_bps     held records per record of the flow's batch, in basis points (0 for
                         a flow with no records, or with no more held records than the
                         gate's held_floor: a few held records are each just held)
      unexplained_minor  sum of |difference| of those breaks per currency (minor units)
      open_breaks        those breaks of one kind (only kinds the flow names)
    Breaks on objects no record of the batch carries (the ERP's own hand postings, accounts the
    flow does not write) are the reconciliation's to report (rec_verdict), not this flow's.
    One row per (flow, threshold) with the measured value and whether it holds (equal passes);
    a flow is clean when every row passes. A metric that cannot be measured does not pass. -#}
with

scope as (

    select * from {{ ref('policy__output_gates') }}

),

gates as (

    select flow, thresholds as phase from scope where setting = 'thresholds'

),

thresholds as (

    select gates.flow, t.*
    from gates
    inner join {{ ref('policy__reconciliation_thresholds') }} as t
        on t.phase = gates.phase
    -- an open_breaks threshold of a kind the flow does not name is not the flow's
    where t.metric <> 'open_breaks'
        or exists (
            select 1 from scope
            where scope.flow = gates.flow
                and scope.setting = 'blocking_break_kind'
                and scope.value = t.break_kind
        )

),

flow_breaks as (

    select distinct holds.flow, breaks.break_id, breaks.break_kind, breaks.currency,
        breaks.difference_amount
    from {{ ref('gate_holds') }} as holds
    inner join {{ ref('rec_breaks') }} as breaks
        on holds.break_id = breaks.break_id

),

flow_records as (

    select
        gates.flow,
        (select max(cast(scope.value as bigint)) from scope
            where scope.flow = gates.flow and scope.setting = 'held_floor') as held_floor,
        (select count(distinct records.record_key) from {{ ref('gate_records') }} as records
            where records.flow = gates.flow) as record_count,
        (select count(distinct holds.record_key) from {{ ref('gate_holds') }} as holds
            where holds.flow = gates.flow) as held_count
    from gates

),

measured as (

    select
        thresholds.flow,
        thresholds.phase,
        thresholds.metric,
        thresholds.currency,
        thresholds.break_kind,
        thresholds.max_value,
        case thresholds.metric
            when 'break_rate_bps' then (
                select case
                    when flow_records.record_count = 0 then 0
                    when flow_records.held_count <= coalesce(flow_records.held_floor, 0) then 0
                    else
                    {{ floor_divide('10000 * flow_records.held_count', 'flow_records.record_count') }}
                    end
                from flow_records
                where flow_records.flow = thresholds.flow
            )
            when 'unexplained_minor' then (
                select coalesce(
                    {{ major_to_minor('sum(abs(flow_breaks.difference_amount))', 'thresholds.currency') }},
                    0
                )
                from flow_breaks
                where flow_breaks.flow = thresholds.flow
                    and flow_breaks.currency = thresholds.currency
            )
            when 'open_breaks' then (
                select count(*) from flow_breaks
                where flow_breaks.flow = thresholds.flow
                    and flow_breaks.break_kind = thresholds.break_kind
            )
        end as measured_value
    from thresholds

),

final as (

    select
        ---------- ids
        cast(
            flow || '|' || phase || '|' || metric || '|' || coalesce(currency, '') || '|'
            || coalesce(break_kind, '')
            as {{ dbt.type_string() }}) as gate_threshold_id,

        ---------- the gate and its threshold
        cast(flow as {{ dbt.type_string() }}) as flow,
        cast(phase as {{ dbt.type_string() }}) as phase,
        cast(metric as {{ dbt.type_string() }}) as metric,
        cast(currency as {{ dbt.type_string() }}) as currency,
        cast(break_kind as {{ dbt.type_string() }}) as break_kind,
        cast(max_value as bigint) as max_value,

        ---------- the measure
        cast(measured_value as bigint) as measured_value,
        coalesce(measured_value is not null and measured_value <= max_value, false) as is_passing

    from measured

)

select * from final
