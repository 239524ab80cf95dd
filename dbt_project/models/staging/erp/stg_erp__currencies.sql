{#- small reference data without `extracted_at`: rebuilt in full each run -#}
{{ config(materialized='table') }}
with

source as (

    {{ latest_version(source('erp', 'currency')) }}

),

renamed as (

    select
        ---------- ids
        cast({{ json_text('payload', 'id') }} as bigint) as currency_id,

        ---------- attributes
        lower({{ json_text('payload', 'symbol') }}) as currency,
        {{ json_text('payload', 'name') }} as currency_name,

        ---------- flags
        is_deleted

    from source

)

select * from renamed
