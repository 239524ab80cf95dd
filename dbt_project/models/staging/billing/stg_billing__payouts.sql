{{ config(unique_key='payout_id') }}
with

source as (

    {{ latest_version(source('billing', 'payout')) }}

),

renamed as (

    select
        ---------- ids
        object_id as payout_id,
        {{ json_text('payload', 'balance_transaction') }} as balance_transaction_id,
        {{ json_text('payload', 'destination') }} as destination_id,
        -- a connected account's payout (partners) names it; platform payouts do not
        {{ json_text('payload', 'metadata.connected_account') }} as connected_account_id,

        ---------- attributes
        {{ json_text('payload', 'status') }} as payout_status,
        {{ json_text('payload', 'method') }} as payout_method,
        {{ json_text('payload', 'type') }} as payout_type,
        lower({{ json_text('payload', 'currency') }}) as currency,

        ---------- amounts (integer minor units)
        {{ json_bigint('payload', 'amount') }} as amount,

        ---------- dates
        {{ epoch_to_timestamp(json_text('payload', 'created')) }} as created_at,
        {{ epoch_to_timestamp(json_text('payload', 'arrival_date')) }} as arrival_at,

        ---------- flags
        coalesce({{ json_bool('payload', 'automatic') }}, false) as is_automatic,
        is_deleted,

        ---------- lineage
        provider_ref,
        extracted_at

    from source

)

select * from renamed
