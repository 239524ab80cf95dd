with

source as (

    {{ latest_version(source('salesforce', 'account')) }}

),

renamed as (

    select
        ---------- ids
        object_id as account_id,
        {{ json_text('payload', 'Billing_Customer_Id__c') }} as billing_customer_id,
        {{ json_text('payload', 'OwnerId') }} as owner_id,
        {{ json_text('payload', 'LastModifiedById') }} as last_modified_by_id,

        ---------- attributes (no name, phone, street or website: PII and contact data stay in raw)
        {{ json_text('payload', 'Type') }} as account_type,
        {{ json_text('payload', 'Industry') }} as industry,
        {{ json_text('payload', 'BillingCountry') }} as billing_country,
        lower({{ json_text('payload', 'CurrencyIsoCode') }}) as currency,

        ---------- billing enrichment as the CRM holds it now (exact decimals, major units)
        {{ json_decimal('payload', 'MRR__c', 16, 2) }} as crm_mrr,
        {{ json_decimal('payload', 'ARR__c', 16, 2) }} as crm_arr,
        {{ json_text('payload', 'Billing_Status__c') }} as crm_billing_status,
        cast({{ json_text('payload', 'Last_Payment_Date__c') }} as date) as crm_last_payment_date,
        {{ json_text('payload', 'Payout_Hold_Reason__c') }} as crm_payout_hold_reason,

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
