{#- small reference data without `extracted_at`: rebuilt in full each run -#}
{{ config(materialized='table') }}
with

source as (

    {{ latest_version(source('erp', 'subsidiary')) }}

),

renamed as (

    select
        ---------- ids
        cast({{ json_text('payload', 'id') }} as bigint) as subsidiary_id,
        cast({{ json_text('payload', 'currency') }} as bigint) as currency_id,

        ---------- attributes
        {{ json_text('payload', 'name') }} as subsidiary_name,

        ---------- flags
        is_deleted

    from source

)

select * from renamed
