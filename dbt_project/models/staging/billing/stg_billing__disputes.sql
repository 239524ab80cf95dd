{{ config(unique_key='dispute_id') }}
with

source as (

    {{ latest_version(source('billing', 'dispute')) }}

),

renamed as (

    select
        ---------- ids
        object_id as dispute_id,
        {{ json_text('payload', 'charge') }} as charge_id,
        {{ json_text('payload', 'payment_intent') }} as payment_intent_id,

        ---------- attributes
        {{ json_text('payload', 'status') }} as dispute_status,
        {{ json_text('payload', 'reason') }} as dispute_reason,
        lower({{ json_text('payload', 'currency') }}) as currency,

        ---------- amounts (integer minor units)
        {{ json_bigint('payload', 'amount') }} as amount,

        ---------- dates
        {{ epoch_to_timestamp(json_text('payload', 'created')) }} as created_at,

        ---------- flags
        is_deleted,

        ---------- lineage
        provider_ref,
        extracted_at

    from source

)

select * from renamed
