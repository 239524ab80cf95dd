{{ config(unique_key='balance_transaction_id') }}
with

source as (

    {{ latest_version(source('billing', 'balance_transaction')) }}

),

renamed as (

    select
        ---------- ids
        object_id as balance_transaction_id,
        {{ json_text('payload', 'source') }} as source_id,

        ---------- attributes
        {{ json_text('payload', 'type') }} as balance_transaction_type,
        {{ json_text('payload', 'reporting_category') }} as reporting_category,
        {{ json_text('payload', 'status') }} as balance_transaction_status,
        lower({{ json_text('payload', 'currency') }}) as currency,

        ---------- amounts (integer minor units)
        {{ json_bigint('payload', 'amount') }} as amount,
        coalesce({{ json_bigint('payload', 'fee') }}, 0) as fee_amount,
        {{ json_bigint('payload', 'net') }} as net_amount,

        -- settlement currency units per unit of the source's currency (null: the same)
        cast({{ json_text('payload', 'exchange_rate') }} as numeric(18, 8)) as exchange_rate,

        ---------- dates
        {{ epoch_to_timestamp(json_text('payload', 'created')) }} as created_at,
        {{ epoch_to_timestamp(json_text('payload', 'available_on')) }} as available_at,

        ---------- flags
        is_deleted,

        ---------- lineage
        provider_ref,
        extracted_at

    from source

)

select * from renamed
