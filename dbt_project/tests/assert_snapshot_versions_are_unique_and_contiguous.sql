-- Each snapshot keeps one row per (id, dbt_valid_from), at most one current row per id, no
-- version that ends before it starts, and no two versions of an id that overlap. Rows
-- returned are ids whose history cannot be read back as one sequence of states.
with

versions as (

    select
        'snap_subscription_states' as snapshot_name,
        subscription_id as entity_id,
        dbt_valid_from,
        dbt_valid_to
    from {{ ref('snap_subscription_states') }}
    union all
    select 'snap_crm_account_states', account_id, dbt_valid_from, dbt_valid_to
    from {{ ref('snap_crm_account_states') }}

),

duplicate_versions as (

    select snapshot_name, entity_id, 'duplicate (id, dbt_valid_from)' as problem
    from versions
    group by snapshot_name, entity_id, dbt_valid_from
    having count(*) > 1

),

several_current as (

    select snapshot_name, entity_id, 'more than one current row' as problem
    from versions
    where dbt_valid_to is null
    group by snapshot_name, entity_id
    having count(*) > 1

),

backwards as (

    select snapshot_name, entity_id, 'valid_to before valid_from' as problem
    from versions
    where dbt_valid_to < dbt_valid_from

),

overlapping as (

    select earlier.snapshot_name, earlier.entity_id, 'overlapping versions' as problem
    from versions as earlier
    inner join versions as later
        on earlier.snapshot_name = later.snapshot_name
        and earlier.entity_id = later.entity_id
        and later.dbt_valid_from > earlier.dbt_valid_from
    where earlier.dbt_valid_to is null
        or earlier.dbt_valid_to > later.dbt_valid_from

)

select * from duplicate_versions
union all
select * from several_current
union all
select * from backwards
union all
select * from overlapping
