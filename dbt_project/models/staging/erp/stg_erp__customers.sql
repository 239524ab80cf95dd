{{ config(unique_key='erp_customer_id') }}
with

source as (

    {{ latest_version(source('erp', 'customer')) }}

),

renamed as (

    select
        ---------- ids
        cast({{ json_text('payload', 'id') }} as bigint) as erp_customer_id,
        {{ json_text('payload', link_field('erp.customer_field')) }} as billing_customer_id,
        cast({{ json_text('payload', 'currency') }} as bigint) as currency_id,
        cast({{ json_text('payload', 'subsidiary') }} as bigint) as subsidiary_id,

        ---------- dates (no company name or email: PII stays in raw)
        {{ iso_to_timestamp(json_text('payload', 'datecreated')) }} as created_at,
        {{ iso_to_timestamp(json_text('payload', 'lastmodifieddate')) }} as last_modified_at,

        ---------- flags
        is_deleted,

        ---------- lineage
        provider_ref,
        extracted_at

    from source

)

select * from renamed
