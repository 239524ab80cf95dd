{#- The billing event stream as landed (raw.billing__event), judged for the kinds that are
    about the stream itself. Billing is the System of Record. Each event is compared with the
    moments its object says the reported change happened (int_billing_events__expected_times):
      event_duplicate     same type, same object state and same previous attributes as an
                          event created at most `q2c_event_duplicate_window_seconds` earlier:
                          a second delivery of one change under a new event id
      event_out_of_order  created before every moment the change it reports could have
                          happened (an `invoice.paid` ahead of the finalization it follows)
      event_late          created more than `q2c_event_late_seconds` after the change it
                          reports (no candidate moment in the window before it)
    Events whose type or object has no known moment are not judged for order or lateness.
    A renewal is one such moment (the intermediate model dates it at the cycle invoice):
    without it every renewal's update event would read as late against the subscription's
    older changes.
    One row per break. -#}
with

events as (

    select * from {{ ref('stg_billing__events') }}
    where not is_deleted

),

expected as (

    select event_type, object_id, expected_at, expected_epoch
    from {{ ref('int_billing_events__expected_times') }}

),

ranked as (

    select
        events.*,
        lag(event_id) over (
            partition by event_type, object_id, object_state_md5, previous_attributes_md5
            order by created_epoch, event_id
        ) as previous_copy_event_id,
        lag(created_epoch) over (
            partition by event_type, object_id, object_state_md5, previous_attributes_md5
            order by created_epoch, event_id
        ) as previous_copy_epoch
    from events

),

timing as (

    select
        events.event_id,
        count(expected.expected_epoch) as candidate_count,
        sum(
            case
                when expected.expected_epoch <= events.created_epoch
                    and events.created_epoch - expected.expected_epoch
                        <= {{ var('q2c_event_late_seconds') }}
                    then 1 else 0
            end
        ) as on_time_count,
        sum(case when expected.expected_epoch <= events.created_epoch then 1 else 0 end)
            as earlier_count,
        max(case when expected.expected_epoch <= events.created_epoch then expected.expected_at end)
            as reported_change_at,
        min(expected.expected_at) as first_expected_at
    from events
    inner join expected
        on events.event_type = expected.event_type
        and events.object_id = expected.object_id
    group by events.event_id

),

judged as (

    select
        events.*,
        timing.candidate_count,
        timing.on_time_count,
        timing.earlier_count,
        timing.reported_change_at,
        timing.first_expected_at
    from events
    inner join timing
        on events.event_id = timing.event_id

),

duplicates as (

    {{ rec_select(
        kind='event_duplicate', entity='billing_event',
        source_system='billing', source_object_type='event',
        source_object_id='ranked.previous_copy_event_id',
        target_system="'billing'", target_object_type="'event'",
        target_object_id='ranked.event_id',
        occurred_at='ranked.created_at',
        detail="ranked.event_type || ' for ' || coalesce(ranked.object_id, '?') || ' delivered again'",
        match_method="'explicit_id'"
    ) }}
    from ranked
    {{ rec_from('billing_event') }}
    where ranked.previous_copy_event_id is not null
        and ranked.created_epoch - ranked.previous_copy_epoch
            <= {{ var('q2c_event_duplicate_window_seconds') }}

),

out_of_order as (

    {{ rec_select(
        kind='event_out_of_order', entity='billing_event',
        source_system='billing', source_object_type='event',
        source_object_id='judged.event_id',
        target_system="'billing'", target_object_type="judged.object_type",
        target_object_id='judged.object_id',
        occurred_at='judged.created_at',
        detail="judged.event_type || ' created before the change it reports (' || cast(judged.first_expected_at as " ~ dbt.type_string() ~ ") || ')'",
        match_method="'explicit_id'"
    ) }}
    from judged
    {{ rec_from('billing_event') }}
    where judged.earlier_count = 0

),

late as (

    {{ rec_select(
        kind='event_late', entity='billing_event',
        source_system='billing', source_object_type='event',
        source_object_id='judged.event_id',
        target_system="'billing'", target_object_type="judged.object_type",
        target_object_id='judged.object_id',
        occurred_at='judged.created_at',
        detail="judged.event_type || ' created long after the change it reports (' || cast(judged.reported_change_at as " ~ dbt.type_string() ~ ") || ')'",
        match_method="'explicit_id'"
    ) }}
    from judged
    {{ rec_from('billing_event') }}
    where judged.earlier_count > 0
        and judged.on_time_count = 0

),

final as (

    select * from duplicates
    union all
    select * from out_of_order
    union all
    select * from late

)

select * from final
