{{ config(unique_key='payment_intent_id') }}
with

source as (

    {{ latest_version(source('billing', 'payment_intent')) }}

),

renamed as (

    select
        ---------- ids
        object_id as payment_intent_id,
        {{ json_text('payload', 'customer') }} as customer_id,
        {{ json_text('payload', 'invoice') }} as invoice_id,
        {{ json_text('payload', 'latest_charge') }} as latest_charge_id,

        ---------- attributes
        {{ json_text('payload', 'status') }} as payment_intent_status,
        lower({{ json_text('payload', 'currency') }}) as currency,

        ---------- amounts (integer minor units)
        {{ json_bigint('payload', 'amount') }} as amount,
        coalesce({{ json_bigint('payload', 'amount_received') }}, 0) as amount_received,

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
