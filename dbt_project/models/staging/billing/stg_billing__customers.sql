{#- Billing customers, latest version. A customer can carry several tax ids (`tax_ids`):
    the EU VAT check reads all of them, not only the first. `tax_id_type` and
    `tax_id_verification_status` describe the tax id that decides compliance: the first
    unverified `eu_vat` id when there is one, else the first tax id. One row per customer. -#}
{{ config(unique_key='customer_id') }}
with

source as (

    {{ latest_version(source('billing', 'customer')) }}

),

-- one row per tax id of each customer, in the order the API lists them
tax_ids as (

    select
        source.object_id as customer_id,
        {{ json_text(json_unnest_column(), 'type') }} as tax_id_type,
        {{ json_text(json_unnest_column(), 'verification.status') }} as verification_status
    from source
    {{ json_unnest_join('source.payload', 'tax_ids.data') }}

),

tax_id_checks as (

    select
        customer_id,
        cast(sum(case when tax_id_type = 'eu_vat' then 1 else 0 end) as integer)
            as eu_vat_tax_id_count,
        cast(sum(
            case when tax_id_type = 'eu_vat' and verification_status = 'unverified' then 1 else 0 end
        ) as integer) as unverified_eu_vat_tax_id_count
    from tax_ids
    group by customer_id

),

renamed as (

    select
        ---------- ids
        object_id as customer_id,
        {{ json_text('payload', 'metadata.' ~ link_field('customer_account.billing_metadata_key')) }} as salesforce_account_id,

        ---------- attributes (no names, emails, phones or street addresses: PII stays in raw)
        lower({{ json_text('payload', 'currency') }}) as currency,
        upper({{ json_text('payload', 'address.country') }}) as country_code,
        {{ json_text('payload', 'tax_exempt') }} as tax_exempt,
        {{ json_array_length('payload', 'tax_ids.data') }} as tax_id_count,
        case
            when tax_id_checks.unverified_eu_vat_tax_id_count > 0 then 'eu_vat'
            else {{ json_text('payload', 'tax_ids.data.0.type') }}
        end as tax_id_type,
        case
            when tax_id_checks.unverified_eu_vat_tax_id_count > 0 then 'unverified'
            else {{ json_text('payload', 'tax_ids.data.0.verification.status') }}
        end as tax_id_verification_status,
        coalesce(tax_id_checks.eu_vat_tax_id_count, 0) as eu_vat_tax_id_count,
        coalesce(tax_id_checks.unverified_eu_vat_tax_id_count, 0) as unverified_eu_vat_tax_id_count,

        ---------- amounts
        {{ json_bigint('payload', 'balance') }} as balance_amount,

        ---------- dates
        {{ epoch_to_timestamp(json_text('payload', 'created')) }} as created_at,

        ---------- flags
        coalesce({{ json_bool('payload', 'delinquent') }}, false) as is_delinquent,
        coalesce(tax_id_checks.unverified_eu_vat_tax_id_count, 0) > 0 as has_invalid_eu_vat,
        is_deleted or coalesce({{ json_bool('payload', 'deleted') }}, false) as is_deleted,

        ---------- lineage
        provider_ref,
        extracted_at

    from source
    left join tax_id_checks
        on source.object_id = tax_id_checks.customer_id

)

select * from renamed
