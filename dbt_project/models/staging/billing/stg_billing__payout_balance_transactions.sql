{#- The payout-scoped list: which balance transactions each payout settled, as the billing API
    answers `GET /v1/balance_transactions?payout=po_...`. One row per (payout, transaction). -#}
{{ config(unique_key='payout_balance_transaction_id') }}
with

source as (

    {{ latest_version(source('billing', 'payout_balance_transaction')) }}

),

renamed as (

    select
        ---------- ids
        object_id as payout_balance_transaction_id,
        split_part(object_id, ':', 1) as payout_id,
        split_part(object_id, ':', 2) as balance_transaction_id,
        {{ json_text('payload', 'source') }} as source_id,

        ---------- attributes
        {{ json_text('payload', 'type') }} as balance_transaction_type,
        {{ json_text('payload', 'reporting_category') }} as reporting_category,
        lower({{ json_text('payload', 'currency') }}) as currency,

        ---------- amounts (integer minor units)
        {{ json_bigint('payload', 'amount') }} as amount,
        coalesce({{ json_bigint('payload', 'fee') }}, 0) as fee_amount,
        {{ json_bigint('payload', 'net') }} as net_amount,

        ---------- dates
        {{ epoch_to_timestamp(json_text('payload', 'created')) }} as created_at,

        ---------- flags
        is_deleted,

        ---------- lineage
        extracted_at

    from source

)

select * from renamed
