{#- Customer accounts as the CRM knows them, with the billing customer and ERP customer they
    resolve to and what billing says about them now. No names, contacts or addresses (PII).
    One row per Salesforce account, deleted ones included and flagged. -#}
with

accounts as (

    select * from {{ ref('stg_salesforce__accounts') }}

),

resolved as (

    select *
    from (
        select
            int_customers__resolved.*,
            row_number() over (
                partition by salesforce_account_id
                order by
                    case account_link_confidence when 'high' then 1 when 'medium' then 2 else 3 end,
                    customer_id
            ) as link_rank
        from {{ ref('int_customers__resolved') }}
        where salesforce_account_id is not null
    ) as ranked
    where link_rank = 1

),

billing_state as (

    select * from {{ ref('int_customers__billing_state') }}

),

final as (

    select
        ---------- ids
        accounts.account_id,
        resolved.customer_id as billing_customer_id,
        resolved.erp_customer_id,

        ---------- attributes
        accounts.account_type,
        accounts.industry,
        accounts.billing_country,
        coalesce(billing_state.currency, accounts.currency) as currency,
        resolved.account_link_source,
        coalesce(resolved.account_link_confidence, 'none') as account_link_confidence,
        coalesce(billing_state.billing_status, 'none') as billing_status,
        accounts.crm_billing_status_label,
        accounts.crm_billing_status,

        ---------- amounts (integer minor units of `currency`; CRM values in major units)
        coalesce(billing_state.mrr_amount, 0) as mrr_amount,
        coalesce(billing_state.arr_amount, 0) as arr_amount,
        accounts.crm_mrr,
        accounts.crm_arr,

        ---------- dates
        billing_state.last_payment_date,
        accounts.crm_last_payment_date,
        accounts.created_at,
        accounts.system_modstamp,

        ---------- flags
        coalesce(billing_state.is_in_dunning, false) as is_in_dunning,
        accounts.is_deleted

    from accounts
    left join resolved
        on accounts.account_id = resolved.salesforce_account_id
    left join billing_state
        on resolved.customer_id = billing_state.customer_id

)

select * from final
