{#- The quote-to-cash funnel per account: when the first deal closed, the first subscription
    started, the first invoice was issued, the first payment succeeded, and the first invoice
    was posted in the ERP, and the furthest stage reached. One row per Salesforce account. -#}
with

accounts as (

    select * from {{ ref('dim_accounts') }}

),

deals as (

    select
        account_id,
        min(close_date) as first_deal_closed_on,
        count(*) as closed_won_count
    from {{ ref('stg_salesforce__opportunities') }}
    where stage = 'closed_won'
        and not is_deleted
    group by account_id

),

subscriptions as (

    select
        salesforce_account_id as account_id,
        min(started_at) as first_subscribed_at
    from {{ ref('fct_subscriptions') }}
    where salesforce_account_id is not null
    group by salesforce_account_id

),

invoices as (

    select
        salesforce_account_id as account_id,
        min(finalized_at) as first_invoiced_at,
        min(paid_at) as first_paid_at
    from {{ ref('fct_invoices') }}
    where salesforce_account_id is not null
        and finalized_at is not null
    group by salesforce_account_id

),

postings as (

    select
        customers.salesforce_account_id as account_id,
        min(erp.transaction_date) as first_posted_on
    from {{ ref('int_erp_transactions__enriched') }} as erp
    inner join {{ ref('int_customers__resolved') }} as customers
        on erp.billing_customer_id = customers.customer_id
    where erp.transaction_type = 'CustInvc'
        and customers.salesforce_account_id is not null
    group by customers.salesforce_account_id

),

final as (

    select
        ---------- ids
        accounts.account_id,
        accounts.billing_customer_id,

        ---------- stage dates
        deals.first_deal_closed_on,
        subscriptions.first_subscribed_at,
        invoices.first_invoiced_at,
        invoices.first_paid_at,
        postings.first_posted_on,

        ---------- furthest stage reached
        case
            when postings.first_posted_on is not null then 'posted'
            when invoices.first_paid_at is not null then 'paid'
            when invoices.first_invoiced_at is not null then 'invoiced'
            when subscriptions.first_subscribed_at is not null then 'subscribed'
            when deals.first_deal_closed_on is not null then 'deal_closed'
            else 'prospect'
        end as funnel_stage,

        ---------- durations (days)
        {{ days_between('deals.first_deal_closed_on', 'subscriptions.first_subscribed_at') }}
            as days_deal_to_subscription,
        {{ days_between('invoices.first_invoiced_at', 'invoices.first_paid_at') }}
            as days_invoice_to_payment,

        ---------- flags
        coalesce(deals.closed_won_count, 0) > 0 as has_closed_won_deal,
        accounts.is_deleted

    from accounts
    left join deals
        on accounts.account_id = deals.account_id
    left join subscriptions
        on accounts.account_id = subscriptions.account_id
    left join invoices
        on accounts.account_id = invoices.account_id
    left join postings
        on accounts.account_id = postings.account_id

)

select * from final
