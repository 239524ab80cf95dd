{#- Data-quality findings: one row per input row that a data check says is wrong, so finance
    sees it in the break list instead of losing the build (macros/data_quality.sql).
      warn tests   every failing row of every `warn` generic test on a staging model
                   (accepted_values, not_null: a label no value map names, relationships:
                   children whose parent is missing or was quarantined, unique,
                   in_contract_chart_of_accounts: an ERP line on a GL account the contract
                   does not map)
      quarantine   every record an extractor kept out of raw (ops.quarantine) with its reason;
                   the raw text is never shown (it may hold anything)
    The offending value is masked as the contract's `reports` channel says. `since` is when
    the offending version landed. Each finding names its system, entity and the entity's
    System of Record (policy__entity_objects, policy__entities). -#}
-- depends_on: {{ ref('policy__sensitivity') }}
-- depends_on: {{ ref('policy__gl_accounts') }}
-- depends_on: {{ ref('stg_billing__balance_transactions') }}
-- depends_on: {{ ref('stg_billing__charges') }}
-- depends_on: {{ ref('stg_billing__connected_accounts') }}
-- depends_on: {{ ref('stg_billing__credit_notes') }}
-- depends_on: {{ ref('stg_billing__customers') }}
-- depends_on: {{ ref('stg_billing__disputes') }}
-- depends_on: {{ ref('stg_billing__events') }}
-- depends_on: {{ ref('stg_billing__invoice_items') }}
-- depends_on: {{ ref('stg_billing__invoice_lines') }}
-- depends_on: {{ ref('stg_billing__invoices') }}
-- depends_on: {{ ref('stg_billing__payment_intents') }}
-- depends_on: {{ ref('stg_billing__payout_balance_transactions') }}
-- depends_on: {{ ref('stg_billing__payouts') }}
-- depends_on: {{ ref('stg_billing__refunds') }}
-- depends_on: {{ ref('stg_billing__subscription_items') }}
-- depends_on: {{ ref('stg_billing__subscriptions') }}
-- depends_on: {{ ref('stg_billing__transfers') }}
-- depends_on: {{ ref('stg_erp__accounting_periods') }}
-- depends_on: {{ ref('stg_erp__accounts') }}
-- depends_on: {{ ref('stg_erp__currencies') }}
-- depends_on: {{ ref('stg_erp__customers') }}
-- depends_on: {{ ref('stg_erp__subsidiaries') }}
-- depends_on: {{ ref('stg_erp__transaction_lines') }}
-- depends_on: {{ ref('stg_erp__transaction_links') }}
-- depends_on: {{ ref('stg_erp__transactions') }}
-- depends_on: {{ ref('stg_salesforce__accounts') }}
-- depends_on: {{ ref('stg_salesforce__cases') }}
-- depends_on: {{ ref('stg_salesforce__contacts') }}
-- depends_on: {{ ref('stg_salesforce__opportunities') }}
-- depends_on: {{ ref('stg_salesforce__users') }}
{%- set quarantine = adapter.get_relation(database=target.database, schema='ops', identifier='quarantine') if execute else none %}
with

failing_rows as (

    {{ q2c.dq_test_findings(['staging']) }}

),

quarantined as (

    {% if quarantine is not none %}
    select
        cast('quarantined:' || source || '.' || object as {{ dbt.type_string() }}) as check_name,
        cast('quarantined' as {{ dbt.type_string() }}) as check_kind,
        cast(null as {{ dbt.type_string() }}) as model_name,
        cast(null as {{ dbt.type_string() }}) as column_name,
        cast(source as {{ dbt.type_string() }}) as source_name,
        cast(object as {{ dbt.type_string() }}) as source_object,
        cast({{ q2c.dq_raw_id('raw') }} as {{ dbt.type_string() }}) as object_id,
        cast('[quarantined record]' as {{ dbt.type_string() }}) as offending_value,
        {{ q2c.timestamptz_to_utc('extracted_at') }} as since,
        cast(reason as {{ dbt.type_string() }}) as reason
    from {{ quarantine }}
    {% else %}
    select * from failing_rows where 1 = 0
    {% endif %}

),

findings as (

    select * from failing_rows
    union all
    select * from quarantined

),

entity_objects as (

    select
        entity_objects.source,
        lower(entity_objects.object) as object,
        entity_objects.entity,
        entity_objects.system,
        entities.system_of_record
    from {{ ref('policy__entity_objects') }} as entity_objects
    inner join {{ ref('policy__entities') }} as entities
        on entities.entity = entity_objects.entity

),

-- the entity of each finding's raw object: the exact object name first, else a typed object
-- of it (ERP `transaction` is `transaction(type=...)`) held by its own System of Record, else
-- the object it is a list of (`payout_balance_transaction` is a `balance_transaction`)
resolved as (

    select
        findings.*,
        entity_objects.entity,
        entity_objects.system,
        entity_objects.system_of_record,
        row_number() over (
            partition by findings.check_name, findings.object_id, findings.since, findings.reason
            order by
                case
                    when entity_objects.object = lower(findings.source_object) then 0
                    when entity_objects.object like lower(findings.source_object) || '(%' then 1
                    else 2
                end,
                case when entity_objects.system = entity_objects.system_of_record then 0 else 1 end,
                entity_objects.entity
        ) as entity_rank
    from findings
    left join entity_objects
        on entity_objects.source = findings.source_name
        and (
            entity_objects.object = lower(findings.source_object)
            or entity_objects.object like lower(findings.source_object) || '(%'
            or right(lower(findings.source_object), length(entity_objects.object) + 1)
                = '_' || entity_objects.object
        )

),

-- one finding per check and object: a record quarantined again (a retried page, a re-list)
-- or failing in several versions is one finding, since its first time; rows without an id
-- stay apart
one_per_object as (

    select
        *,
        min(since) over (partition by check_name, object_id) as first_since,
        row_number() over (partition by check_name, object_id order by since desc, reason) as copy_rank
    from resolved
    where entity_rank = 1

),

final as (

    select
        ---------- ids
        cast(
            check_name || ':' || coalesce(
                object_id,
                '#' || cast(row_number() over (partition by check_name order by since, reason) as {{ dbt.type_string() }})
            ) as {{ dbt.type_string() }}
        ) as finding_id,
        check_name,
        check_kind,
        object_id,

        ---------- what was checked
        model_name,
        column_name,
        source_name,
        source_object,
        cast(coalesce(system, source_name) as {{ dbt.type_string() }}) as system,
        cast(entity as {{ dbt.type_string() }}) as entity,
        cast(system_of_record as {{ dbt.type_string() }}) as system_of_record,

        ---------- the finding
        offending_value,
        reason,
        cast(case when object_id is null then since else first_since end as timestamp) as since

    from one_per_object
    where object_id is null or copy_rank = 1

)

select * from final
