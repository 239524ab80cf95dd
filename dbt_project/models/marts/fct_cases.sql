{#- Support cases with the billing state of their account, to see which cases need billing's
    attention. One row per Salesforce case. No subject or description (free text, PII). -#}
with

cases as (

    select * from {{ ref('stg_salesforce__cases') }}

),

accounts as (

    select * from {{ ref('dim_accounts') }}

),

final as (

    select
        ---------- ids
        cases.case_id,
        cases.case_number,
        cases.account_id,
        accounts.billing_customer_id,

        ---------- attributes
        cases.case_status,
        cases.priority,
        cases.origin,
        coalesce(accounts.billing_status, 'none') as account_billing_status,

        ---------- dates
        cases.created_at,
        cases.system_modstamp,

        ---------- flags
        cases.is_closed,
        cases.has_billing_priority_flag,
        coalesce(accounts.is_in_dunning, false) as is_account_in_dunning,
        cases.is_deleted

    from cases
    left join accounts
        on cases.account_id = accounts.account_id

)

select * from final
