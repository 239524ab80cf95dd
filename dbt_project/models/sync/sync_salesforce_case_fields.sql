{#- What each open support case should say in the write set's Case fields
    (support_case_priority): Billing_Priority_Flag__c is true when the case is about its
    account's dunning (fct_cases.is_about_dunning). Only fields in policy__write_set (sobject Case), with the billing reference that
    decides and the case's current value. One row per (case, field). -#}
with

cases as (

    select * from {{ ref('fct_cases') }}
    where not is_closed
        and not is_deleted

),

write_set as (

    select * from {{ ref('policy__write_set') }}
    where sobject = 'Case'

),

proposed as (

    select
        cases.case_id,
        cases.account_id,
        'Billing_Priority_Flag__c' as field_api_name,
        case when cases.is_about_dunning then 'true' else 'false' end as proposed_value,
        case when cases.has_billing_priority_flag then 'true' else 'false' end as crm_value,
        coalesce(
            'billing:customer:' || cases.billing_customer_id || ':subscriptions',
            'crm:Account:' || cases.account_id
        ) as source_ref
    from cases

),

final as (

    select
        ---------- ids
        proposed.case_id || '|' || proposed.field_api_name as case_field_id,
        proposed.case_id,
        proposed.account_id,
        write_set.match_on,

        ---------- the field and its values
        proposed.field_api_name,
        write_set.field_id,
        write_set.winner,
        proposed.proposed_value,
        proposed.crm_value,
        proposed.source_ref,

        ---------- flags
        proposed.proposed_value <> proposed.crm_value as is_changed

    from proposed
    inner join write_set
        on proposed.field_api_name = write_set.field_api_name

)

select * from final
