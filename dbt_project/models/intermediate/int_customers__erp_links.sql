{#- Every live ERP customer that names a billing customer in its external id, with the link's
    source and confidence. Duplicates (two ERP customers for one billing customer) are listed
    here, each one, never dropped: the first by ERP id is the one postings use
    (`is_primary_link`), the others are `duplicate`. An ERP customer whose external id names
    no billing customer is listed as `billing_customer_not_found`.
    One row per ERP customer with an external id. -#}
with

erp_customers as (

    select * from {{ ref('stg_erp__customers') }}
    where billing_customer_id is not null
        and not is_deleted

),

customers as (

    select customer_id from {{ ref('stg_billing__customers') }}

),

ranked as (

    select
        erp_customers.erp_customer_id,
        erp_customers.billing_customer_id,
        customers.customer_id is not null as is_billing_customer_found,
        row_number() over (
            partition by erp_customers.billing_customer_id
            order by erp_customers.erp_customer_id
        ) as link_rank,
        count(*) over (partition by erp_customers.billing_customer_id) as erp_customer_count
    from erp_customers
    left join customers
        on erp_customers.billing_customer_id = customers.customer_id

),

final as (

    select
        ---------- ids
        erp_customer_id,
        billing_customer_id,

        ---------- link facts
        'erp_external_id' as link_source,
        case
            when not is_billing_customer_found then 'none'
            when erp_customer_count > 1 then 'low'
            else 'high'
        end as link_confidence,
        case
            when not is_billing_customer_found then 'billing_customer_not_found'
            when link_rank > 1 then 'duplicate'
            else 'linked'
        end as link_resolution,
        link_rank,
        erp_customer_count,

        ---------- flags
        is_billing_customer_found,
        link_rank = 1 as is_primary_link

    from ranked

)

select * from final
