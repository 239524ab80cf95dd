{{ config(unique_key='case_id') }}
with

source as (

    {{ latest_version(source('salesforce', 'case')) }}

),

renamed as (

    select
        ---------- ids
        object_id as case_id,
        {{ json_text('payload', link_field('case_account_field')) }} as account_id,
        {{ json_text('payload', 'CaseNumber') }} as case_number,
        {{ json_text('payload', 'OwnerId') }} as owner_id,

        ---------- attributes (no description; the subject is free text: it stays in staging
        ---------- and is only searched for invoice numbers, never selected into marts)
        {{ json_text('payload', 'Subject') }} as subject,
        -- picklists as the org labels them, and their canonical words (null: unmapped)
        {{ blank_as_null(json_text('payload', 'Status')) }} as case_status_label,
        {{ canonical_value('case_status', json_text('payload', 'Status')) }} as case_status,
        {{ blank_as_null(json_text('payload', 'Priority')) }} as priority_label,
        {{ canonical_value('case_priority', json_text('payload', 'Priority')) }} as priority,
        {{ json_text('payload', 'Origin') }} as origin,

        ---------- dates
        {{ iso_to_timestamp(json_text('payload', 'CreatedDate')) }} as created_at,
        {{ iso_to_timestamp(json_text('payload', 'SystemModstamp')) }} as system_modstamp,

        ---------- flags
        coalesce({{ json_bool('payload', 'IsClosed') }}, false) as is_closed,
        coalesce({{ json_bool('payload', crm_field('case.billing_priority_flag')) }}, false) as has_billing_priority_flag,
        is_deleted or coalesce({{ json_bool('payload', 'IsDeleted') }}, false) as is_deleted,

        ---------- lineage
        provider_ref,
        extracted_at

    from source

)

select * from renamed
