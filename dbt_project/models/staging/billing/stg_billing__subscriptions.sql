{{ config(unique_key='subscription_id') }}
with

source as (

    {{ latest_version(source('billing', 'subscription')) }}

),

renamed as (

    select
        ---------- ids
        object_id as subscription_id,
        {{ json_text('payload', 'customer') }} as customer_id,
        {{ json_text('payload', 'metadata.' ~ link_field('subscription_deal.billing_metadata_key')) }} as salesforce_opportunity_id,
        {{ json_text('payload', 'latest_invoice') }} as latest_invoice_id,

        ---------- attributes
        {{ json_text('payload', 'status') }} as subscription_status,
        lower({{ json_text('payload', 'currency') }}) as currency,
        {{ json_text('payload', 'collection_method') }} as collection_method,

        ---------- the discount in force now (coupon)
        {{ json_text('payload', 'discount.coupon.id') }} as coupon_id,
        {{ json_text('payload', 'discount.coupon.duration') }} as coupon_duration,
        cast({{ json_text('payload', 'discount.coupon.percent_off') }} as numeric(9, 4)) as coupon_percent_off,
        {{ json_bigint('payload', 'discount.coupon.amount_off') }} as coupon_amount_off,
        {{ epoch_to_timestamp(json_text('payload', 'discount.end')) }} as discount_end_at,

        ---------- dates
        {{ epoch_to_timestamp(json_text('payload', 'created')) }} as created_at,
        {{ epoch_to_timestamp(json_text('payload', 'start_date')) }} as started_at,
        {{ epoch_to_timestamp(json_text('payload', 'current_period_start')) }} as current_period_start_at,
        {{ epoch_to_timestamp(json_text('payload', 'current_period_end')) }} as current_period_end_at,
        {{ epoch_to_timestamp(json_text('payload', 'trial_start')) }} as trial_start_at,
        {{ epoch_to_timestamp(json_text('payload', 'trial_end')) }} as trial_end_at,
        {{ epoch_to_timestamp(json_text('payload', 'cancel_at')) }} as cancel_at,
        {{ epoch_to_timestamp(json_text('payload', 'canceled_at')) }} as canceled_at,
        {{ epoch_to_timestamp(json_text('payload', 'ended_at')) }} as ended_at,

        ---------- flags
        coalesce({{ json_bool('payload', 'cancel_at_period_end') }}, false) as is_cancel_at_period_end,
        is_deleted,

        ---------- lineage
        provider_ref,
        extracted_at

    from source

)

select * from renamed
