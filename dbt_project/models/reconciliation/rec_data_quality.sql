{#- Data-quality findings (dq_findings) as breaks of kind `data_quality`, so finance sees them
    in rec_breaks and the report beside the reconciliation breaks: the source side is the
    offending record in its system, there is no target side, no amount, and match_method is
    `data_quality`. The columns are rec_select's (macros/reconciliation.sql), in its order:
    rec_breaks unions the rec_* models by position. -#}
with

findings as (

    select * from {{ ref('dq_findings') }}

),

as_of as (

    select * from {{ ref('int_warehouse__as_of') }}

),

final as (

    select
        cast('data_quality:' || findings.finding_id as {{ dbt.type_string() }}) as break_id,
        cast('data_quality' as {{ dbt.type_string() }}) as break_kind,
        cast(coalesce(findings.system_of_record, findings.system) as {{ dbt.type_string() }}) as system_of_record,
        cast(coalesce(findings.entity, findings.source_object) as {{ dbt.type_string() }}) as entity,
        cast(findings.system as {{ dbt.type_string() }}) as source_system,
        cast(findings.source_object as {{ dbt.type_string() }}) as source_object_type,
        cast(coalesce(findings.object_id, findings.finding_id) as {{ dbt.type_string() }}) as source_object_id,
        cast(null as {{ dbt.type_string() }}) as target_system,
        cast(null as {{ dbt.type_string() }}) as target_object_type,
        cast(null as {{ dbt.type_string() }}) as target_object_id,
        cast(null as numeric(22, 3)) as source_amount,
        cast(null as numeric(22, 3)) as target_amount,
        cast(0 as numeric(22, 3)) as difference_amount,
        cast(null as {{ dbt.type_string() }}) as currency,
        cast(null as {{ dbt.type_string() }}) as target_currency,
        cast(findings.since as timestamp) as occurred_at,
        {{ q2c.month_start('findings.since') }} as period_month,
        {{ q2c.days_between('findings.since', 'as_of.as_of_at') }} as age_days,
        cast(
            findings.check_name
            || coalesce(': ' || findings.offending_value, '')
            || coalesce(' (' || findings.reason || ')', '')
            as {{ dbt.type_string() }}
        ) as detail,
        cast('data_quality' as {{ dbt.type_string() }}) as match_method,
        cast(1 as numeric(3, 2)) as confidence,
        cast(null as {{ dbt.type_string() }}) as related_break_id
    from findings
    cross join as_of

)

select * from final
