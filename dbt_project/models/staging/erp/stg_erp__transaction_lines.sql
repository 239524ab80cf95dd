{{ config(unique_key='transaction_line_id') }}
with

source as (

    {{ latest_version(source('erp', 'transactionline')) }}

),

renamed as (

    select
        ---------- ids
        object_id as transaction_line_id,
        cast({{ json_text('payload', 'transaction') }} as bigint) as erp_transaction_id,
        cast({{ json_text('payload', 'id') }} as bigint) as line_id,
        cast({{ json_text('payload', 'account') }} as bigint) as erp_account_id,
        cast({{ json_text('payload', 'entity') }} as bigint) as erp_customer_id,

        ---------- attributes
        cast({{ json_text('payload', 'linesequencenumber') }} as bigint) as line_sequence_number,

        ---------- amounts (exact decimals in major units)
        {{ json_decimal('payload', 'foreignamount') }} as foreign_amount,
        coalesce({{ json_decimal('payload', 'debitforeignamount') }}, 0) as debit_amount,
        coalesce({{ json_decimal('payload', 'creditforeignamount') }}, 0) as credit_amount,

        ---------- flags
        is_deleted,

        ---------- lineage
        provider_ref,
        extracted_at

    from source

)

select * from renamed
