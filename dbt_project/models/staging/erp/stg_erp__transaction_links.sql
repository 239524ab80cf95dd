{#- ERP document links (`previoustransactionlinelink`): a payment or credit applied to an
    invoice. One row per (previous doc line, next doc line). -#}
{{ config(unique_key='transaction_link_id') }}
with

source as (

    {{ latest_version(source('erp', 'previoustransactionlinelink')) }}

),

renamed as (

    select
        ---------- ids
        object_id as transaction_link_id,
        cast({{ json_text('payload', 'previousdoc') }} as bigint) as previous_transaction_id,
        cast({{ json_text('payload', 'previousline') }} as bigint) as previous_line_id,
        cast({{ json_text('payload', 'nextdoc') }} as bigint) as next_transaction_id,
        cast({{ json_text('payload', 'nextline') }} as bigint) as next_line_id,

        ---------- attributes
        {{ json_text('payload', 'linktype') }} as link_type,

        ---------- amounts (exact decimals in major units)
        {{ json_decimal('payload', 'foreignamount') }} as foreign_amount,

        ---------- flags
        is_deleted,

        ---------- lineage
        extracted_at

    from source

)

select * from renamed
