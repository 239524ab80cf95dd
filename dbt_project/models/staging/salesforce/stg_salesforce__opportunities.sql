{{ config(unique_key='opportunity_id') }}
with

source as (

    {{ latest_version(source('salesforce', 'opportunity')) }}

),

renamed as (

    select
        ---------- ids
        object_id as opportunity_id,
        {{ json_text('payload', 'AccountId') }} as account_id,
        {{ json_text('payload', link_field('subscription_deal.crm_field')) }} as billing_subscription_id,
        {{ json_text('payload', 'OwnerId') }} as owner_id,

        ---------- attributes
        {{ json_text('payload', 'StageName') }} as stage_name,
        -- the stage's canonical word (open, closed_won, closed_lost); a stage no value map
        -- names is decided by IsWon and IsClosed, which Salesforce derives from the stage
        coalesce(
            {{ canonical_value('opportunity_stage', json_text('payload', 'StageName')) }},
            case
                when {{ json_bool('payload', 'IsWon') }} then 'closed_won'
                when {{ json_bool('payload', 'IsClosed') }} then 'closed_lost'
                else 'open'
            end
        ) as stage,
        lower({{ json_text('payload', 'CurrencyIsoCode') }}) as currency,

        ---------- amounts (exact decimals, major units)
        {{ json_decimal('payload', 'Amount') }} as amount,

        ---------- dates
        cast({{ json_text('payload', 'CloseDate') }} as date) as close_date,
        {{ iso_to_timestamp(json_text('payload', 'CreatedDate')) }} as created_at,
        {{ iso_to_timestamp(json_text('payload', 'SystemModstamp')) }} as system_modstamp,

        ---------- flags
        coalesce({{ json_bool('payload', 'IsClosed') }}, false) as is_closed,
        coalesce({{ json_bool('payload', 'IsWon') }}, false) as is_won,
        is_deleted or coalesce({{ json_bool('payload', 'IsDeleted') }}, false) as is_deleted,

        ---------- lineage
        provider_ref,
        extracted_at

    from source

)

select * from renamed
