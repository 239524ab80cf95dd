{#- The billing event stream as landed (raw.billing__event), judged for the kinds that are
    about the stream itself. Billing is the System of Record. Breaks:
      event_duplicate     an event whose type, object and object state repeat an earlier
                          event's (same content, different event id): a redelivery
      event_out_of_order  an event created before an earlier-numbered change of the same
                          object: ordering by `created` would apply the older state last
      event_late          an event created more than `q2c_event_late_seconds` after the
                          change it reports (the object's own timestamp)
    One row per break. -#}
with

events as (

    select * from {{ ref('stg_billing__events') }}

),

ranked as (

    select
        events.*,
        row_number() over (
            partition by event_type, object_id, object_state_md5
            order by created_epoch, event_id
        ) as copy_rank,
        min(event_id) over (
            partition by event_type, object_id, object_state_md5
        ) as first_event_id
    from events

),

duplicates as (

    {{ rec_select(
        kind='event_duplicate', entity='billing_event',
        source_system='billing', source_object_type='event',
        source_object_id='ranked.first_event_id',
        target_system="'billing'", target_object_type="'event'",
        target_object_id='ranked.event_id',
        occurred_at='ranked.created_at',
        detail="ranked.event_type || ' for ' || coalesce(ranked.object_id, '?') || ' delivered again'"
    ) }}
    from ranked
    {{ rec_from('billing_event') }}
    where ranked.copy_rank > 1

),

final as (

    select * from duplicates

)

select * from final
