with

source as (

    {{ latest_version(source('billing', 'customer')) }}

),

renamed as (

    select
        ---------- ids
        object_id as customer_id,
        {{ json_text('payload', 'metadata.salesforce_account_id') }} as salesforce_account_id,

        ---------- attributes (no names, emails, phones or street addresses: PII stays in raw)
        lower({{ json_text('payload', 'currency') }}) as currency,
        upper({{ json_text('payload', 'address.country') }}) as country_code,
        {{ json_text('payload', 'tax_exempt') }} as tax_exempt,
        {{ json_array_length('payload', 'tax_ids.data') }} as tax_id_count,
        {{ json_text('payload', 'tax_ids.data.0.type') }} as tax_id_type,
        {{ json_text('payload', 'tax_ids.data.0.verification.status') }} as tax_id_verification_status,

        ---------- amounts
        {{ json_bigint('payload', 'balance') }} as balance_amount,

        ---------- dates
        {{ epoch_to_timestamp(json_text('payload', 'created')) }} as created_at,

        ---------- flags
        coalesce({{ json_bool('payload', 'delinquent') }}, false) as is_delinquent,
        is_deleted or coalesce({{ json_bool('payload', 'deleted') }}, false) as is_deleted,

        ---------- lineage
        provider_ref,
        extracted_at

    from source

)

select * from renamed
