{#- small reference data without `extracted_at`: rebuilt in full each run -#}
{{ config(materialized='table') }}
with

source as (

    {{ latest_version(source('erp', 'accountingperiod')) }}

),

renamed as (

    select
        ---------- ids
        cast({{ json_text('payload', 'id') }} as bigint) as accounting_period_id,

        ---------- attributes
        {{ json_text('payload', 'periodname') }} as period_name,

        ---------- dates
        cast({{ json_text('payload', 'startdate') }} as date) as start_date,
        cast({{ json_text('payload', 'enddate') }} as date) as end_date,

        ---------- flags
        {{ json_text('payload', 'closed') }} = 'T' as is_closed,
        {{ json_text('payload', 'isquarter') }} = 'T' as is_quarter,
        {{ json_text('payload', 'isyear') }} = 'T' as is_year,
        is_deleted

    from source

)

select * from renamed
