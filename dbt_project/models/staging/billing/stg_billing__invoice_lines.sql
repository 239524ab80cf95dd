{#- One row per invoice line, unnested from the invoice's embedded `lines` list (a Stripe line
    item carries no invoice id of its own in this API version). -#}
with

invoices as (

    {{ latest_version(source('billing', 'invoice')) }}

),

lines as (

    select
        invoices.object_id as invoice_id,
        invoices.is_deleted,
        invoices.extracted_at,
        {{ json_unnest_column() }} as line
    from invoices
    {{ json_unnest_join('invoices.payload', 'lines.data') }}

),

renamed as (

    select
        ---------- ids
        {{ json_text('line', 'id') }} as invoice_line_id,
        invoice_id,
        {{ json_text('line', 'subscription') }} as subscription_id,
        {{ json_text('line', 'subscription_item') }} as subscription_item_id,
        {{ json_text('line', 'price.id') }} as price_id,

        ---------- attributes
        {{ json_text('line', 'type') }} as line_type,
        lower({{ json_text('line', 'currency') }}) as currency,
        {{ json_bigint('line', 'quantity') }} as quantity,

        ---------- amounts (integer minor units)
        {{ json_bigint('line', 'amount') }} as amount,
        {{ json_array_sum('line', 'discount_amounts', 'amount') }} as discount_amount,
        {{ json_array_sum('line', 'tax_amounts', 'amount') }} as tax_amount,

        ---------- dates
        {{ epoch_to_timestamp(json_text('line', 'period.start')) }} as period_start_at,
        {{ epoch_to_timestamp(json_text('line', 'period.end')) }} as period_end_at,

        ---------- flags
        coalesce({{ json_bool('line', 'proration') }}, false) as is_proration,
        is_deleted,

        ---------- lineage
        extracted_at

    from lines

)

select * from renamed
