{#- Every landed event, one row per event id. The stream properties (duplicates, order,
    lateness) are judged in the reconciliation layer from these columns. -#}
{{ config(unique_key='event_id') }}
with

source as (

    {{ latest_version(source('billing', 'event')) }}

),

renamed as (

    select
        ---------- ids
        object_id as event_id,
        {{ json_text('payload', 'data.object.id') }} as object_id,
        {{ json_text('payload', 'data.object.object') }} as object_type,
        {{ json_text('payload', 'request.idempotency_key') }} as request_idempotency_key,

        ---------- attributes
        {{ json_text('payload', 'type') }} as event_type,
        {{ json_text('payload', 'api_version') }} as api_version,
        {{ json_md5('payload', 'data.object') }} as object_state_md5,
        {{ json_md5('payload', 'data.previous_attributes') }} as previous_attributes_md5,
        {{ json_text('payload', 'data.object.status') }} as object_status,

        ---------- dates
        {{ epoch_to_timestamp(json_text('payload', 'created')) }} as created_at,
        {{ json_bigint('payload', 'created') }} as created_epoch,

        ---------- flags
        is_deleted,

        ---------- lineage
        provider_ref,
        extracted_at

    from source

)

select * from renamed
