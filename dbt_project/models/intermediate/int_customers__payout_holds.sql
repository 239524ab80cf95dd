{#- Connected accounts whose payouts are on hold, with the reason the CRM shows
    (Payout_Hold_Reason__c): Stripe's `requirements.disabled_reason`, or outstanding
    verification requirements. One row per connected account; `salesforce_account_id` is the
    CRM account the partner is. -#}
with

connected_accounts as (

    select * from {{ ref('stg_billing__connected_accounts') }}
    where not is_deleted

),

final as (

    select
        ---------- ids
        connected_account_id,
        salesforce_account_id,

        ---------- state
        case
            when disabled_reason is not null then disabled_reason
            when not is_payouts_enabled then 'payouts_disabled'
            when past_due_count > 0 then 'requirements.past_due'
            when individual_verification_status in ('unverified', 'pending') then 'verification.' || individual_verification_status
        end as payout_hold_reason,

        ---------- flags
        disabled_reason is not null
            or not is_payouts_enabled
            or past_due_count > 0
            or coalesce(individual_verification_status in ('unverified', 'pending'), false)
            as is_payout_held

    from connected_accounts

)

select * from final
