{#- The records each output gate holds out of its batch (q2c.gates.holds): a record whose
    objects carry an open break of a kind that concerns the flow (the contract's
    output_gates.<flow>.blocking_break_kinds, policy__output_gates; a data_quality break only
    on the gate's input_systems) stays out with the break as its reason; the rest of the batch
    goes. A held record goes out in a later run once its break is gone (it is then no longer
    in this model). Records and the objects they stand on: gate_records.
    One row per (flow, record, break). -#}
with

scope as (

    select * from {{ ref('policy__output_gates') }}

),

record_objects as (

    select * from {{ ref('gate_records') }}

),

blocking as (

    select breaks.*, scope.flow
    from {{ ref('rec_breaks') }} as breaks
    inner join scope
        on scope.setting = 'blocking_break_kind'
        and scope.value = breaks.break_kind
    where breaks.break_kind <> 'data_quality'
        or exists (
            select 1 from scope as systems
            where systems.flow = scope.flow
                and systems.setting = 'input_system'
                and systems.value = breaks.source_system
        )

),

held as (

    select distinct
        record_objects.flow,
        record_objects.record_key,
        blocking.break_id,
        blocking.break_kind,
        blocking.source_system,
        blocking.source_object_type,
        blocking.source_object_id
    from record_objects
    inner join blocking
        on record_objects.flow = blocking.flow
        and (
            record_objects.object_id = blocking.source_object_id
            or record_objects.object_id = blocking.target_object_id
        )

),

final as (

    select
        ---------- ids
        cast(flow || '|' || record_key || '|' || break_id as {{ dbt.type_string() }}) as hold_id,
        cast(flow as {{ dbt.type_string() }}) as flow,
        cast(record_key as {{ dbt.type_string() }}) as record_key,
        cast(break_id as {{ dbt.type_string() }}) as break_id,

        ---------- why (names and ids, never values)
        cast(break_kind as {{ dbt.type_string() }}) as break_kind,
        cast(
            'open break ' || break_kind || ' on ' || coalesce(source_system, '?') || ' '
            || coalesce(source_object_type, 'object') || ' ' || coalesce(source_object_id, '?')
            as {{ dbt.type_string() }}
        ) as reason

    from held

)

select * from final
