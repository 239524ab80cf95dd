{{ config(unique_key='invoice_item_id') }}
with

source as (

    {{ latest_version(source('billing', 'invoiceitem')) }}

),

renamed as (

    select
        ---------- ids
        object_id as invoice_item_id,
        {{ json_text('payload', 'customer') }} as customer_id,
        {{ json_text('payload', 'invoice') }} as invoice_id,
        {{ json_text('payload', 'subscription') }} as subscription_id,

        ---------- attributes
        lower({{ json_text('payload', 'currency') }}) as currency,
        {{ json_bigint('payload', 'quantity') }} as quantity,

        ---------- amounts (integer minor units)
        {{ json_bigint('payload', 'amount') }} as amount,

        ---------- dates
        {{ epoch_to_timestamp(json_text('payload', 'date')) }} as dated_at,

        ---------- flags
        coalesce({{ json_bool('payload', 'proration') }}, false) as is_proration,
        is_deleted,

        ---------- lineage
        provider_ref,
        extracted_at

    from source

)

select * from renamed
