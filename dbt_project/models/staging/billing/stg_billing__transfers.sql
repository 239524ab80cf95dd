{{ config(unique_key='transfer_id') }}
with

source as (

    {{ latest_version(source('billing', 'transfer')) }}

),

renamed as (

    select
        ---------- ids
        object_id as transfer_id,
        {{ json_text('payload', 'destination') }} as connected_account_id,
        {{ json_text('payload', 'source_transaction') }} as source_charge_id,
        {{ json_text('payload', 'balance_transaction') }} as balance_transaction_id,

        ---------- attributes
        lower({{ json_text('payload', 'currency') }}) as currency,

        ---------- amounts (integer minor units)
        {{ json_bigint('payload', 'amount') }} as amount,
        coalesce({{ json_bigint('payload', 'amount_reversed') }}, 0) as amount_reversed,

        ---------- dates
        {{ epoch_to_timestamp(json_text('payload', 'created')) }} as created_at,

        ---------- flags
        coalesce({{ json_bool('payload', 'reversed') }}, false) as is_reversed,
        is_deleted,

        ---------- lineage
        provider_ref,
        extracted_at

    from source

)

select * from renamed
