{{ config(unique_key='charge_id') }}
with

source as (

    {{ latest_version(source('billing', 'charge')) }}

),

renamed as (

    select
        ---------- ids
        object_id as charge_id,
        {{ json_text('payload', 'customer') }} as customer_id,
        {{ json_text('payload', 'invoice') }} as invoice_id,
        {{ json_text('payload', 'payment_intent') }} as payment_intent_id,
        {{ json_text('payload', 'balance_transaction') }} as balance_transaction_id,

        ---------- attributes
        {{ json_text('payload', 'status') }} as charge_status,
        {{ json_text('payload', 'failure_code') }} as failure_code,
        lower({{ json_text('payload', 'currency') }}) as currency,

        ---------- amounts (integer minor units)
        {{ json_bigint('payload', 'amount') }} as amount,
        coalesce({{ json_bigint('payload', 'amount_captured') }}, 0) as amount_captured,
        coalesce({{ json_bigint('payload', 'amount_refunded') }}, 0) as amount_refunded,

        ---------- dates
        {{ epoch_to_timestamp(json_text('payload', 'created')) }} as created_at,

        ---------- flags
        coalesce({{ json_bool('payload', 'paid') }}, false) as is_paid,
        coalesce({{ json_bool('payload', 'captured') }}, false) as is_captured,
        coalesce({{ json_bool('payload', 'refunded') }}, false) as is_refunded,
        coalesce({{ json_bool('payload', 'disputed') }}, false) as is_disputed,
        is_deleted,

        ---------- lineage
        provider_ref,
        extracted_at

    from source

)

select * from renamed
