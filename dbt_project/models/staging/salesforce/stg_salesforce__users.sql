{#- small reference data without `extracted_at`: rebuilt in full each run -#}
{{ config(materialized='table') }}
with

source as (

    {{ latest_version(source('salesforce', 'user')) }}

),

renamed as (

    select
        ---------- ids
        object_id as user_id,

        ---------- attributes (no names, username or email: PII stays in raw)
        {{ json_text('payload', 'UserType') }} as user_type,

        ---------- flags
        {{ json_text('payload', 'Username') }} = '{{ var("q2c_integration_username") }}' as is_integration_user,
        coalesce({{ json_bool('payload', 'IsActive') }}, false) as is_active,
        is_deleted

    from source

)

select * from renamed
