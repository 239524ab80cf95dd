{{ config(unique_key='invoice_id') }}
with

source as (

    {{ latest_version(source('billing', 'invoice')) }}

),

renamed as (

    select
        ---------- ids
        object_id as invoice_id,
        {{ json_text('payload', 'customer') }} as customer_id,
        {{ json_text('payload', 'subscription') }} as subscription_id,
        {{ json_text('payload', 'charge') }} as charge_id,
        {{ json_text('payload', 'payment_intent') }} as payment_intent_id,
        {{ json_text('payload', 'number') }} as invoice_number,

        ---------- attributes
        {{ json_text('payload', 'status') }} as invoice_status,
        {{ json_text('payload', 'billing_reason') }} as billing_reason,
        {{ json_text('payload', 'collection_method') }} as collection_method,
        lower({{ json_text('payload', 'currency') }}) as currency,

        ---------- amounts (integer minor units of `currency`)
        {{ json_bigint('payload', 'subtotal') }} as subtotal_amount,
        coalesce({{ json_bigint('payload', 'tax') }}, 0) as tax_amount,
        {{ json_array_sum('payload', 'total_discount_amounts', 'amount') }} as discount_amount,
        {{ json_bigint('payload', 'total') }} as total_amount,
        {{ json_bigint('payload', 'amount_due') }} as amount_due,
        {{ json_bigint('payload', 'amount_paid') }} as amount_paid,
        {{ json_bigint('payload', 'amount_remaining') }} as amount_remaining,
        coalesce({{ json_bigint('payload', 'post_payment_credit_notes_amount') }}, 0)
            + coalesce({{ json_bigint('payload', 'pre_payment_credit_notes_amount') }}, 0)
            as credit_noted_amount,
        {{ json_array_length('payload', 'lines.data') }} as embedded_line_count,

        ---------- dates
        {{ epoch_to_timestamp(json_text('payload', 'created')) }} as created_at,
        {{ epoch_to_timestamp(json_text('payload', 'period_start')) }} as period_start_at,
        {{ epoch_to_timestamp(json_text('payload', 'period_end')) }} as period_end_at,
        {{ epoch_to_timestamp(json_text('payload', 'status_transitions.finalized_at')) }} as finalized_at,
        {{ epoch_to_timestamp(json_text('payload', 'status_transitions.paid_at')) }} as paid_at,
        {{ epoch_to_timestamp(json_text('payload', 'status_transitions.voided_at')) }} as voided_at,
        {{ epoch_to_timestamp(json_text('payload', 'status_transitions.marked_uncollectible_at')) }} as marked_uncollectible_at,
        {{ epoch_to_timestamp(json_text('payload', 'due_date')) }} as due_at,
        {{ epoch_to_timestamp(json_text('payload', 'effective_at')) }} as effective_at,

        ---------- flags
        coalesce({{ json_bool('payload', 'paid') }}, false) as is_paid,
        is_deleted,

        ---------- lineage
        provider_ref,
        extracted_at

    from source

)

select * from renamed
