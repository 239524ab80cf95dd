{#- Subscription items as landed with their subscription (`raw.billing__subscription_item`);
    the subscription id is the item's own `subscription` field, else the `provider_ref` the
    extractor stamps on children (the parent's id). -#}
{{ config(unique_key='subscription_item_id') }}
with

source as (

    {{ latest_version(source('billing', 'subscription_item')) }}

),

renamed as (

    select
        ---------- ids
        object_id as subscription_item_id,
        coalesce({{ json_text('payload', 'subscription') }}, provider_ref) as subscription_id,
        {{ json_text('payload', 'price.id') }} as price_id,
        {{ json_text('payload', 'price.product') }} as product_id,

        ---------- attributes
        lower({{ json_text('payload', 'price.currency') }}) as currency,
        {{ json_text('payload', 'price.recurring.interval') }} as billing_interval,
        coalesce({{ json_bigint('payload', 'price.recurring.interval_count') }}, 1) as billing_interval_count,
        coalesce({{ json_bigint('payload', 'quantity') }}, 1) as quantity,

        ---------- amounts (integer minor units per interval)
        {{ json_bigint('payload', 'price.unit_amount') }} as unit_amount,

        ---------- dates
        {{ epoch_to_timestamp(json_text('payload', 'created')) }} as created_at,

        ---------- flags
        is_deleted,

        ---------- lineage
        extracted_at

    from source

)

select * from renamed
