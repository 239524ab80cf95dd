{#- The records each output gate holds out of its batch (q2c.gates.holds): a record whose
    objects carry an open break of a kind that concerns the flow (the contract's
    output_gates.<flow>.blocking_break_kinds, policy__output_gates; a data_quality break only
    on the gate's input_systems) stays out with the break as its reason; the rest of the batch
    goes. A held record goes out in a later run once its break is gone (it is then no longer
    in this model). Records and the objects they stand on: gate_records.
    A payment or refund entry of the ERP export (its charge, or the refunded charge, paid an
    invoice) is held too while that invoice carries such a break, with the reason 'invoice
    held': the ERP must not apply cash to an invoice it holds differently.
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

-- the invoice each export entry of a charge (payment, fx) or a refund applies to
charges as (

    select charge_id, invoice_id from {{ ref('stg_billing__charges') }}
    where invoice_id is not null

),

applied as (

    select record_objects.record_key, charges.invoice_id
    from record_objects
    inner join charges on record_objects.object_id = charges.charge_id
    where record_objects.flow = 'erp_export'
    union
    select record_objects.record_key, charges.invoice_id
    from record_objects
    inner join {{ ref('stg_billing__refunds') }} as refunds
        on record_objects.object_id = refunds.refund_id
    inner join charges on refunds.charge_id = charges.charge_id
    where record_objects.flow = 'erp_export'

),

held_by_invoice as (

    select distinct
        blocking.flow,
        applied.record_key,
        blocking.break_id,
        blocking.break_kind,
        applied.invoice_id
    from applied
    inner join blocking
        on blocking.flow = 'erp_export'
        and (
            applied.invoice_id = blocking.source_object_id
            or applied.invoice_id = blocking.target_object_id
        )
    where not exists (
        select 1 from held
        where held.flow = blocking.flow
            and held.record_key = applied.record_key
            and held.break_id = blocking.break_id
    )

),

reasons as (

    select flow, record_key, break_id, break_kind,
        'open break ' || break_kind || ' on ' || coalesce(source_system, '?') || ' '
        || coalesce(source_object_type, 'object') || ' ' || coalesce(source_object_id, '?')
        as reason
    from held
    union all
    select flow, record_key, break_id, break_kind,
        'invoice held: invoice ' || invoice_id || ' has open break ' || break_kind
    from held_by_invoice

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
        cast(reason as {{ dbt.type_string() }}) as reason

    from reasons

)

select * from final
