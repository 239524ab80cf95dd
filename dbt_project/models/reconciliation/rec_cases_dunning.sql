{#- Open support cases about an account's dunning (fct_cases.is_about_dunning: the account's
    billing status is in `q2c_dunning_statuses` and the case names one of its unpaid invoices)
    that do not carry the billing priority flag. Billing decides dunning; the support tool
    owns the case.
    Break `case_dunning_without_priority`. One row per break. -#}
with

cases as (

    select * from {{ ref('fct_cases') }}
    where not is_closed
        and not is_deleted

),

final as (

    {{ rec_select(
        kind='case_dunning_without_priority', entity='case',
        source_system='support', source_object_type='Case',
        source_object_id='cases.case_id',
        target_system="'billing'", target_object_type="'customer'",
        target_object_id='cases.billing_customer_id',
        occurred_at='cases.created_at',
        detail="'open case of an account in ' || cases.account_billing_status || ' without Billing_Priority_Flag__c'",
        match_method="'explicit_id'"
    ) }}
    from cases
    {{ rec_from('case') }}
    where cases.is_about_dunning
        and not cases.has_billing_priority_flag

)

select * from final
