{#- Invoice lines as landed with their invoice (`raw.billing__line_item`). A Stripe line item
    of this API version carries no invoice id, so the extractor lands each line with
    `provider_ref` = the invoice id it was read from (extractors/billing/extract.py). -#}
{{ config(unique_key='invoice_line_id') }}
with

source as (

    {{ latest_version(source('billing', 'line_item')) }}

),

renamed as (

    select
        ---------- ids
        object_id as invoice_line_id,
        provider_ref as invoice_id,
        {{ json_text('payload', 'subscription') }} as subscription_id,
        {{ json_text('payload', 'subscription_item') }} as subscription_item_id,
        {{ json_text('payload', 'price.id') }} as price_id,

        ---------- attributes
        {{ json_text('payload', 'type') }} as line_type,
        lower({{ json_text('payload', 'currency') }}) as currency,
        {{ json_bigint('payload', 'quantity') }} as quantity,

        ---------- amounts (integer minor units)
        {{ json_bigint('payload', 'amount') }} as amount,
        {{ json_array_sum('payload', 'discount_amounts', 'amount') }} as discount_amount,
        {{ json_array_sum('payload', 'tax_amounts', 'amount') }} as tax_amount,

        ---------- dates
        {{ epoch_to_timestamp(json_text('payload', 'period.start')) }} as period_start_at,
        {{ epoch_to_timestamp(json_text('payload', 'period.end')) }} as period_end_at,

        ---------- flags
        coalesce({{ json_bool('payload', 'proration') }}, false) as is_proration,
        is_deleted,

        ---------- lineage
        extracted_at

    from source

)

select * from renamed
