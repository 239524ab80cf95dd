{{ config(unique_key='account_id') }}
with

source as (

    {{ latest_version(source('salesforce', 'account')) }}

),

renamed as (

    select
        ---------- ids
        object_id as account_id,
        {{ json_text('payload', link_field('customer_account.crm_field')) }} as billing_customer_id,
        {{ json_text('payload', 'OwnerId') }} as owner_id,
        {{ json_text('payload', 'LastModifiedById') }} as last_modified_by_id,

        ---------- attributes (no name, phone, street or website: PII and contact data stay in raw)
        {{ json_text('payload', 'Type') }} as account_type,
        {{ json_text('payload', 'Industry') }} as industry,
        {{ json_text('payload', 'BillingCountry') }} as billing_country,
        lower({{ json_text('payload', 'CurrencyIsoCode') }}) as currency,

        ---------- billing enrichment as the CRM holds it now (exact decimals, major units)
        {{ json_decimal('payload', crm_field('account.mrr'), 16, 2) }} as crm_mrr,
        {{ json_decimal('payload', crm_field('account.arr'), 16, 2) }} as crm_arr,
        -- the picklist as the org labels it, and its canonical word (null: no value map names it)
        {{ blank_as_null(json_text('payload', crm_field('account.billing_status'))) }} as crm_billing_status_label,
        {{ canonical_value('billing_status', json_text('payload', crm_field('account.billing_status'))) }} as crm_billing_status,
        cast({{ json_text('payload', crm_field('account.last_payment_date')) }} as date) as crm_last_payment_date,
        {{ json_text('payload', crm_field('account.payout_hold_reason')) }} as crm_payout_hold_reason,

        ---------- dates
        {{ iso_to_timestamp(json_text('payload', 'CreatedDate')) }} as created_at,
        {{ iso_to_timestamp(json_text('payload', 'LastModifiedDate')) }} as last_modified_at,
        {{ iso_to_timestamp(json_text('payload', 'SystemModstamp')) }} as system_modstamp,

        ---------- flags
        is_deleted or coalesce({{ json_bool('payload', 'IsDeleted') }}, false) as is_deleted,

        ---------- lineage
        provider_ref,
        extracted_at

    from source

)

select * from renamed
