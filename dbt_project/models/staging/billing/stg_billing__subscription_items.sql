{#- One row per subscription item, unnested from the subscription's embedded `items` list so
    that an item always belongs to the latest version of its subscription. -#}
with

subscriptions as (

    {{ latest_version(source('billing', 'subscription')) }}

),

items as (

    select
        subscriptions.object_id as subscription_id,
        subscriptions.is_deleted,
        subscriptions.extracted_at,
        {{ json_unnest_column() }} as item
    from subscriptions
    {{ json_unnest_join('subscriptions.payload', 'items.data') }}

),

renamed as (

    select
        ---------- ids
        {{ json_text('item', 'id') }} as subscription_item_id,
        subscription_id,
        {{ json_text('item', 'price.id') }} as price_id,
        {{ json_text('item', 'price.product') }} as product_id,

        ---------- attributes
        lower({{ json_text('item', 'price.currency') }}) as currency,
        {{ json_text('item', 'price.recurring.interval') }} as billing_interval,
        coalesce({{ json_bigint('item', 'price.recurring.interval_count') }}, 1) as billing_interval_count,
        coalesce({{ json_bigint('item', 'quantity') }}, 1) as quantity,

        ---------- amounts (integer minor units per interval)
        {{ json_bigint('item', 'price.unit_amount') }} as unit_amount,

        ---------- dates
        {{ epoch_to_timestamp(json_text('item', 'created')) }} as created_at,

        ---------- flags
        is_deleted,

        ---------- lineage
        extracted_at

    from items

)

select * from renamed
