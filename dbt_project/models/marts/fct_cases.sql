{#- Support cases with the billing state of their account, to see which cases need billing's
    attention. A case is about dunning when it names, by number, an unpaid invoice (open or
    uncollectible) of a customer in dunning. One row per
    Salesforce case. No subject or description (free text, PII). -#}
with

cases as (

    select * from {{ ref('stg_salesforce__cases') }}

),

accounts as (

    select * from {{ ref('dim_accounts') }}

),

-- unpaid invoices of customers in dunning: what a dunning case is about
dunning_invoices as (

    select invoices.customer_id, invoices.invoice_number
    from {{ ref('stg_billing__invoices') }} as invoices
    inner join {{ ref('int_customers__billing_state') }} as billing_state
        on invoices.customer_id = billing_state.customer_id
    where invoices.invoice_status in ('open', 'uncollectible')
        and invoices.invoice_number is not null
        and not invoices.is_deleted
        and billing_state.is_in_dunning

),

-- the invoice number in the case links it to billing even when the account link is broken
dunning_mentions as (

    select distinct cases.case_id
    from cases
    inner join dunning_invoices
        on position(dunning_invoices.invoice_number in cases.subject) > 0
    where not cases.is_closed

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
        dunning_mentions.case_id is not null as is_about_dunning,
        cases.is_deleted

    from cases
    left join accounts
        on cases.account_id = accounts.account_id
    left join dunning_mentions
        on cases.case_id = dunning_mentions.case_id

)

select * from final
