{#- The records each output gate's batch carries and the objects each record stands on
    (q2c.gates): gate_holds holds a record when one of its objects carries an open break of a
    kind that concerns the flow; gate_verdict measures the held share of these records.
      erp_export        an entry (external_id): the billing objects of its lines
      crm_account_sync  an account (billing_customer_id, the upsert's match value): the
                        billing customer and the CRM Account
      crm_case_sync,    a case (case_id): the case, its Account and the Account's billing
      automations       customer
    One row per (flow, record, object). -#}
with

erp_lines as (

    select * from {{ ref('export_erp_journal_lines') }}

),

accounts as (

    select account_id, billing_customer_id from {{ ref('dim_accounts') }}

),

cases as (

    select distinct case_id, account_id from {{ ref('sync_salesforce_case_fields') }}

),

case_objects as (

    select case_id, case_id as object_id from cases
    union
    select case_id, account_id from cases where account_id is not null
    union
    select cases.case_id, accounts.billing_customer_id
    from cases
    inner join accounts on cases.account_id = accounts.account_id
    where accounts.billing_customer_id is not null

),

record_objects as (

    select 'erp_export' as flow, external_id as record_key, billing_id as object_id
    from erp_lines
    union
    select 'erp_export', external_id, {{ dbt.split_part('source_ref', "':'", 3) }}
    from erp_lines
    union
    select 'crm_account_sync', billing_customer_id, billing_customer_id
    from {{ ref('sync_salesforce_account_fields') }}
    union
    select 'crm_account_sync', billing_customer_id, account_id
    from {{ ref('sync_salesforce_account_fields') }}
    union
    select 'crm_case_sync', case_id, object_id from case_objects
    union
    select 'automations', case_id, object_id from case_objects

)

select distinct
    cast(flow as {{ dbt.type_string() }}) as flow,
    cast(record_key as {{ dbt.type_string() }}) as record_key,
    cast(object_id as {{ dbt.type_string() }}) as object_id
from record_objects
where record_key is not null
    and object_id is not null
