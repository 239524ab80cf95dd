{#- Identity resolution: each billing customer with its Salesforce account and ERP customer.
    Two links can name the account: the customer's `metadata.salesforce_account_id` and the
    account's `Billing_Customer_Id__c`. The link's source and confidence are kept, and a
    customer that resolves to no live account is listed with the reason, never dropped.
    When both links exist and name different accounts, nothing is silently chosen: the row
    is `account_resolution = 'conflict'` with confidence `conflict`, the billing metadata's
    account in `salesforce_account_id` and the claiming account in
    `conflicting_salesforce_account_id` (a missing or deleted account keeps its own reason,
    which reconciliation reports). The ERP customer comes from the ERP customer's external id
    (int_customers__erp_links): one is `high`, several are `low` with resolution `duplicate`
    (all of them listed in int_customers__erp_links; the lowest ERP id is the one used).
    One row per billing customer. -#}
with

customers as (

    select * from {{ ref('stg_billing__customers') }}

),

accounts as (

    select * from {{ ref('stg_salesforce__accounts') }}

),

erp_customers as (

    select
        billing_customer_id,
        erp_customer_id,
        link_source as erp_link_source,
        link_confidence as erp_link_confidence,
        erp_customer_count
    from {{ ref('int_customers__erp_links') }}
    where is_primary_link

),

-- an account claiming a customer through its external id; live accounts first
account_claims as (

    select
        billing_customer_id,
        account_id,
        is_deleted,
        row_number() over (
            partition by billing_customer_id order by is_deleted, account_id
        ) as claim_rank
    from accounts
    where billing_customer_id is not null

),

linked as (

    select
        customers.customer_id,
        customers.is_deleted as is_customer_deleted,
        customers.salesforce_account_id as metadata_account_id,
        metadata_account.account_id as metadata_account_found_id,
        metadata_account.is_deleted as is_metadata_account_deleted,
        claims.account_id as claiming_account_id,
        claims.is_deleted as is_claiming_account_deleted
    from customers
    left join accounts as metadata_account
        -- billing metadata may hold the 15-character form of the Account id
        on {{ salesforce_id_key('customers.salesforce_account_id') }} = {{ salesforce_id_key('metadata_account.account_id') }}
    left join account_claims as claims
        on customers.customer_id = claims.billing_customer_id
        and claims.claim_rank = 1

),

final as (

    select
        ---------- ids
        linked.customer_id,
        coalesce(linked.metadata_account_found_id, linked.claiming_account_id) as salesforce_account_id,
        linked.metadata_account_id as claimed_salesforce_account_id,
        case
            when linked.metadata_account_found_id <> linked.claiming_account_id
                then linked.claiming_account_id
        end as conflicting_salesforce_account_id,
        erp_customers.erp_customer_id,

        ---------- link facts
        case
            when linked.metadata_account_found_id is not null
                and linked.metadata_account_found_id = linked.claiming_account_id
                then 'billing_metadata_and_crm_external_id'
            when linked.metadata_account_found_id is not null then 'billing_metadata'
            when linked.claiming_account_id is not null then 'crm_external_id'
            else 'none'
        end as account_link_source,
        case
            when linked.metadata_account_found_id is not null
                and linked.metadata_account_found_id = linked.claiming_account_id then 'high'
            when linked.metadata_account_found_id <> linked.claiming_account_id then 'conflict'
            when coalesce(linked.metadata_account_found_id, linked.claiming_account_id) is not null
                then 'medium'
            else 'none'
        end as account_link_confidence,
        case
            when linked.metadata_account_id is null and linked.claiming_account_id is null
                then 'no_account_link'
            when linked.metadata_account_id is not null and linked.metadata_account_found_id is null
                then 'account_not_found'
            when coalesce(linked.is_metadata_account_deleted, linked.is_claiming_account_deleted)
                then 'account_deleted'
            when linked.metadata_account_found_id <> linked.claiming_account_id then 'conflict'
            else 'resolved'
        end as account_resolution,
        coalesce(erp_customers.erp_link_source, 'none') as erp_link_source,
        coalesce(erp_customers.erp_link_confidence, 'none') as erp_link_confidence,
        case
            when erp_customers.erp_customer_id is null then 'missing'
            when erp_customers.erp_customer_count > 1 then 'duplicate'
            else 'linked'
        end as erp_resolution,
        coalesce(erp_customers.erp_customer_count, 0) as erp_customer_count,

        ---------- flags
        linked.is_customer_deleted

    from linked
    left join erp_customers
        on linked.customer_id = erp_customers.billing_customer_id

)

select * from final
