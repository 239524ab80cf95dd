{#- Billing state against the CRM's copy on the Account, and billing customers against CRM
    accounts. Billing is the System of Record for the billing fields; the CRM owns accounts.
    Breaks:
      crm_billing_status_stale            Billing_Status__c differs from billing's status
      customer_without_account            a live billing customer links to no CRM account
      customer_linked_to_deleted_account  ... links to a deleted CRM account
    occurred_at, from which age_days and period_month follow, is when the break began as far
    as the data shows: the account's last system change for a stale status; the customer's
    creation for a customer without an account (billing keeps no history of its metadata);
    the deletion of the account (its SystemModstamp, set by the delete), or the customer's
    creation if that came later, for a link to a deleted account.
    One row per break. -#}
with

accounts as (

    select * from {{ ref('dim_accounts') }}
    where not is_deleted
        and billing_customer_id is not null

),

customers as (

    select
        resolved.*,
        billing_state.currency,
        billing_customers.created_at as customer_created_at,
        linked_accounts.system_modstamp as account_changed_at
    from {{ ref('int_customers__resolved') }} as resolved
    left join {{ ref('int_customers__billing_state') }} as billing_state
        on resolved.customer_id = billing_state.customer_id
    left join {{ ref('stg_billing__customers') }} as billing_customers
        on resolved.customer_id = billing_customers.customer_id
    left join {{ ref('stg_salesforce__accounts') }} as linked_accounts
        on resolved.salesforce_account_id = linked_accounts.account_id
    where not resolved.is_customer_deleted

),

stale as (

    {{ rec_select(
        kind='crm_billing_status_stale', entity='subscription',
        source_system='billing', source_object_type='customer',
        source_object_id='accounts.billing_customer_id',
        target_system="'crm'", target_object_type="'Account'",
        target_object_id='accounts.account_id',
        currency='accounts.currency',
        occurred_at='accounts.system_modstamp',
        detail="'CRM says ' || coalesce(accounts.crm_billing_status_label, 'nothing') || ', billing says ' || accounts.billing_status",
        match_method="'explicit_id'"
    ) }}
    from accounts
    {{ rec_from('subscription') }}
    where coalesce(accounts.crm_billing_status, 'none') <> accounts.billing_status
        -- a label no value map names is a data-quality finding, not a stale status
        and not (accounts.crm_billing_status_label is not null and accounts.crm_billing_status is null)

),

unlinked as (

    {{ rec_select(
        kind='customer_without_account', entity='account',
        source_system='billing', source_object_type='customer',
        source_object_id='customers.customer_id',
        target_system="'crm'", target_object_type="'Account'",
        target_object_id='customers.claimed_salesforce_account_id',
        currency='customers.currency',
        occurred_at='customers.customer_created_at',
        detail="customers.account_resolution",
        match_method="'unmatched'"
    ) }}
    from customers
    {{ rec_from('account') }}
    where customers.account_resolution in ('no_account_link', 'account_not_found')

),

deleted_links as (

    {{ rec_select(
        kind='customer_linked_to_deleted_account', entity='account',
        source_system='billing', source_object_type='customer',
        source_object_id='customers.customer_id',
        target_system="'crm'", target_object_type="'Account'",
        target_object_id='customers.salesforce_account_id',
        currency='customers.currency',
        occurred_at='case when customers.account_changed_at > customers.customer_created_at then customers.account_changed_at else coalesce(customers.customer_created_at, customers.account_changed_at) end',
        detail="'the linked CRM account is deleted'",
        match_method="'explicit_id'"
    ) }}
    from customers
    {{ rec_from('account') }}
    where customers.account_resolution = 'account_deleted'

),

final as (

    select * from stale
    union all
    select * from unlinked
    union all
    select * from deleted_links

)

select * from final
