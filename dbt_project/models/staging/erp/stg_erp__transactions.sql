{{ config(unique_key='erp_transaction_id') }}
with

source as (

    {{ latest_version(source('erp', 'transaction')) }}

),

renamed as (

    select
        ---------- ids
        cast({{ json_text('payload', 'id') }} as bigint) as erp_transaction_id,
        {{ json_text('payload', 'tranid') }} as tran_id,
        -- the billing object id as the ERP record names it (the contract's link field:
        -- externalid, or a custom body field), and one typed into its memo by hand (only the
        -- id the contract's pattern finds; the memo itself is free text and stays in raw)
        {{ json_text('payload', link_field('erp.transaction_field')) }} as external_id,
        {% if link_field('erp.memo_id_pattern') -%}
        {{ regex_first_match(json_text('payload', 'memo'), link_field('erp.memo_id_pattern')) }}
        {%- else -%}
        cast(null as {{ dbt.type_string() }})
        {%- endif %} as typed_billing_id,
        cast({{ json_text('payload', 'entity') }} as bigint) as erp_customer_id,
        cast({{ json_text('payload', 'currency') }} as bigint) as currency_id,
        cast({{ json_text('payload', 'postingperiod') }} as bigint) as posting_period_id,

        ---------- attributes
        {{ json_text('payload', 'type') }} as transaction_type,
        {{ json_text('payload', 'status') }} as transaction_status,

        ---------- amounts (exact decimals in major units of the transaction currency)
        {{ json_decimal('payload', 'foreigntotal') }} as foreign_total,

        ---------- dates
        cast({{ json_text('payload', 'trandate') }} as date) as transaction_date,
        {{ iso_to_timestamp(json_text('payload', 'createddate')) }} as created_at,
        {{ iso_to_timestamp(json_text('payload', 'lastmodifieddate')) }} as last_modified_at,

        ---------- flags
        is_deleted,

        ---------- lineage
        provider_ref,
        extracted_at

    from source

)

select * from renamed
