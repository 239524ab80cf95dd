{{ config(unique_key='refund_id') }}
with

source as (

    {{ latest_version(source('billing', 'refund')) }}

),

renamed as (

    select
        ---------- ids
        object_id as refund_id,
        {{ json_text('payload', 'charge') }} as charge_id,
        {{ json_text('payload', 'payment_intent') }} as payment_intent_id,
        {{ json_text('payload', 'balance_transaction') }} as balance_transaction_id,

        ---------- attributes
        {{ json_text('payload', 'status') }} as refund_status,
        {{ json_text('payload', 'reason') }} as refund_reason,
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
