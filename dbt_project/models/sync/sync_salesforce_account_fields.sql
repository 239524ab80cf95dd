{#- What the CRM's Account should say, field by field, for the enrichment write-back
    (crm_account_enrichment): only the fields in the contract's write set
    (policy__write_set, sobject Account), each with the value billing decides, the reference
    of the billing object it came from, the value the CRM holds now, and whether they differ.
    Values are text in Salesforce's API form (decimals with 2 places, the scale of MRR__c and
    ARR__c, converted from minor units by the account's currency; dates YYYY-MM-DD,
    empty = null). Live accounts resolved to a billing customer only.
    Payout_Hold_Reason__c: the compliance holds of the account's connected account on payout
    release (gate and status, from reconciliation.compliance_holds), leaving out every check
    a contract gate keeps out of the CRM (a gate on it blocks `writeback`: AML), else the
    billing platform's own reason; an account a compliance gate holds from the write-back
    (`writeback` hold: an AML review, hit or missing screening) has no row at all, so its CRM
    fields stay as they are.
    One row per (account, field). -#}
{%- set holds_source = source('compliance', 'holds') -%}
{%- set holds_relation = adapter.get_relation(
    database=holds_source.database, schema=holds_source.schema,
    identifier=holds_source.identifier) if execute else none -%}
with

compliance_holds as (

    {% if holds_relation is not none -%}
    select subject_id, action, gate, check_name, status
    from {{ holds_source }}
    where subject_type = 'connected_account'
    {%- else -%}
    {#- no compliance run yet: no holds (the write-back's own gate still decides) -#}
    select
        cast(null as {{ dbt.type_string() }}) as subject_id,
        cast(null as {{ dbt.type_string() }}) as action,
        cast(null as {{ dbt.type_string() }}) as gate,
        cast(null as {{ dbt.type_string() }}) as check_name,
        cast(null as {{ dbt.type_string() }}) as status
    where 1 = 0
    {%- endif %}

),

crm_hidden_checks as (

    select distinct check_name from {{ ref('policy__compliance_gates') }}
    where blocked_action = 'writeback'

),

connected_accounts as (

    select connected_account_id, salesforce_account_id
    from {{ ref('stg_billing__connected_accounts') }}
    where not is_deleted

),

compliance_reasons as (

    select
        connected_accounts.salesforce_account_id,
        {{ dbt.listagg("compliance_holds.gate || ': ' || compliance_holds.status", "'; '", "order by compliance_holds.gate") }} as payout_hold_reason
    from compliance_holds
    inner join connected_accounts
        on compliance_holds.subject_id = connected_accounts.connected_account_id
    where compliance_holds.action = 'payout_release'
        and compliance_holds.check_name not in (select check_name from crm_hidden_checks)
    group by connected_accounts.salesforce_account_id

),

writeback_held as (

    select distinct connected_accounts.salesforce_account_id
    from compliance_holds
    inner join connected_accounts
        on compliance_holds.subject_id = connected_accounts.connected_account_id
    where compliance_holds.action = 'writeback'
        and connected_accounts.salesforce_account_id is not null

),

accounts as (

    select * from {{ ref('dim_accounts') }}
    where not is_deleted
        and billing_customer_id is not null
        and account_id not in (select salesforce_account_id from writeback_held)

),

billing_state as (

    select * from {{ ref('int_customers__billing_state') }}

),

holds as (

    select * from {{ ref('int_customers__payout_holds') }}

),

write_set as (

    select * from {{ ref('policy__write_set') }}
    where sobject = 'Account'

),

proposed as (

    select
        accounts.account_id,
        accounts.billing_customer_id,
        '{{ crm_field("account.mrr") }}' as field_api_name,
        cast(cast({{ minor_to_major('accounts.mrr_amount', 'accounts.currency') }} as numeric(18, 2)) as {{ dbt.type_string() }}) as proposed_value,
        cast(accounts.crm_mrr as {{ dbt.type_string() }}) as crm_value,
        'billing:customer:' || accounts.billing_customer_id || ':subscription_items' as source_ref
    from accounts

    union all

    select
        accounts.account_id,
        accounts.billing_customer_id,
        '{{ crm_field("account.arr") }}',
        cast(cast({{ minor_to_major('accounts.arr_amount', 'accounts.currency') }} as numeric(18, 2)) as {{ dbt.type_string() }}),
        cast(accounts.crm_arr as {{ dbt.type_string() }}),
        'billing:customer:' || accounts.billing_customer_id || ':subscription_items'
    from accounts

    union all

    select
        accounts.account_id,
        accounts.billing_customer_id,
        '{{ crm_field("account.billing_status") }}',
        accounts.billing_status,
        accounts.crm_billing_status,
        'billing:customer:' || accounts.billing_customer_id || ':subscriptions'
    from accounts

    union all

    select
        accounts.account_id,
        accounts.billing_customer_id,
        '{{ crm_field("account.last_payment_date") }}',
        cast(billing_state.last_payment_date as {{ dbt.type_string() }}),
        cast(accounts.crm_last_payment_date as {{ dbt.type_string() }}),
        coalesce(
            'billing:charge:' || billing_state.last_payment_charge_id,
            'billing:customer:' || accounts.billing_customer_id || ':charges'
        )
    from accounts
    inner join billing_state
        on accounts.billing_customer_id = billing_state.customer_id

    union all

    select
        accounts.account_id,
        accounts.billing_customer_id,
        '{{ crm_field("account.payout_hold_reason") }}',
        coalesce(compliance_reasons.payout_hold_reason, holds.payout_hold_reason),
        crm.crm_payout_hold_reason,
        coalesce(
            'billing:account:' || holds.connected_account_id,
            'billing:customer:' || accounts.billing_customer_id || ':accounts'
        )
    from accounts
    inner join {{ ref('stg_salesforce__accounts') }} as crm
        on accounts.account_id = crm.account_id
    left join holds
        on accounts.account_id = holds.salesforce_account_id
    left join compliance_reasons
        on accounts.account_id = compliance_reasons.salesforce_account_id

),

final as (

    select
        ---------- ids
        proposed.account_id || '|' || proposed.field_api_name as account_field_id,
        proposed.account_id,
        proposed.billing_customer_id,
        write_set.match_on,

        ---------- the field and its values
        proposed.field_api_name,
        write_set.field_id,
        write_set.winner,
        proposed.proposed_value,
        proposed.crm_value,
        proposed.source_ref,

        ---------- flags
        coalesce(proposed.proposed_value, '') <> coalesce(proposed.crm_value, '') as is_changed

    from proposed
    inner join write_set
        on proposed.field_api_name = write_set.field_api_name

)

select * from final
