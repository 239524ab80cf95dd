{{ config(unique_key='credit_note_id') }}
with

source as (

    {{ latest_version(source('billing', 'credit_note')) }}

),

renamed as (

    select
        ---------- ids
        object_id as credit_note_id,
        {{ json_text('payload', 'invoice') }} as invoice_id,
        {{ json_text('payload', 'customer') }} as customer_id,
        {{ json_text('payload', 'refund') }} as refund_id,
        {{ json_text('payload', 'number') }} as credit_note_number,

        ---------- attributes
        {{ json_text('payload', 'status') }} as credit_note_status,
        {{ json_text('payload', 'type') }} as credit_note_type,
        {{ json_text('payload', 'reason') }} as credit_note_reason,
        lower({{ json_text('payload', 'currency') }}) as currency,

        ---------- amounts (integer minor units)
        {{ json_bigint('payload', 'subtotal') }} as subtotal_amount,
        {{ json_bigint('payload', 'total') }} as total_amount,
        coalesce({{ json_bigint('payload', 'amount') }}, {{ json_bigint('payload', 'total') }}) as amount,
        coalesce({{ json_bigint('payload', 'out_of_band_amount') }}, 0) as out_of_band_amount,

        ---------- dates
        {{ epoch_to_timestamp(json_text('payload', 'created')) }} as created_at,
        {{ epoch_to_timestamp(json_text('payload', 'voided_at')) }} as voided_at,

        ---------- flags
        is_deleted,

        ---------- lineage
        provider_ref,
        extracted_at

    from source

)

select * from renamed
