{#- Contacts are PII end to end; only the link to the account leaves raw. -#}
{#- small reference data without `extracted_at`: rebuilt in full each run -#}
{{ config(materialized='table') }}
with

source as (

    {{ latest_version(source('salesforce', 'contact')) }}

),

renamed as (

    select
        ---------- ids
        object_id as contact_id,
        {{ json_text('payload', 'AccountId') }} as account_id,

        ---------- dates
        {{ iso_to_timestamp(json_text('payload', 'SystemModstamp')) }} as system_modstamp,

        ---------- flags
        is_deleted or coalesce({{ json_bool('payload', 'IsDeleted') }}, false) as is_deleted

    from source

)

select * from renamed
