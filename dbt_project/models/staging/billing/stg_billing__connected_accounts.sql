{#- Connected accounts (Stripe Connect `account` objects): partners paid through the
    platform, with their verification state. No names, emails or bank details (PII). -#}
{{ config(unique_key='connected_account_id') }}
with

source as (

    {{ latest_version(source('billing', 'account')) }}

),

renamed as (

    select
        ---------- ids
        object_id as connected_account_id,
        {{ json_text('payload', 'metadata.salesforce_account_id') }} as salesforce_account_id,

        ---------- attributes
        {{ json_text('payload', 'type') }} as account_type,
        {{ json_text('payload', 'business_type') }} as business_type,
        upper({{ json_text('payload', 'country') }}) as country_code,
        lower({{ json_text('payload', 'default_currency') }}) as default_currency,

        ---------- verification
        {{ json_text('payload', 'requirements.disabled_reason') }} as disabled_reason,
        {{ json_array_length('payload', 'requirements.currently_due') }} as currently_due_count,
        {{ json_array_length('payload', 'requirements.past_due') }} as past_due_count,
        {{ json_text('payload', 'individual.verification.status') }} as individual_verification_status,

        ---------- dates
        {{ epoch_to_timestamp(json_text('payload', 'created')) }} as created_at,

        ---------- flags
        coalesce({{ json_bool('payload', 'payouts_enabled') }}, false) as is_payouts_enabled,
        coalesce({{ json_bool('payload', 'charges_enabled') }}, false) as is_charges_enabled,
        coalesce({{ json_bool('payload', 'details_submitted') }}, false) as is_details_submitted,
        is_deleted,

        ---------- lineage
        provider_ref,
        extracted_at

    from source

)

select * from renamed
