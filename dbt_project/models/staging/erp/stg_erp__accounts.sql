{#- small reference data without `extracted_at`: rebuilt in full each run -#}
{{ config(materialized='table') }}
with

source as (

    {{ latest_version(source('erp', 'account')) }}

),

renamed as (

    select
        ---------- ids
        cast({{ json_text('payload', 'id') }} as bigint) as erp_account_id,
        {{ json_text('payload', 'acctnumber') }} as account_number,

        ---------- attributes
        {{ json_text('payload', 'acctname') }} as account_name,
        {{ json_text('payload', 'accttype') }} as account_type,

        ---------- flags
        is_deleted

    from source

)

select * from renamed
