{#-
  The latest landed version of each object in a raw table: the row with the newest
  `extracted_at`, ties broken by the newest `provider_ref`, then the payload hash so the pick
  is deterministic. Raw tables are append-only; staging reads only this view of them.

  A deletion lands as a tombstone whose payload is only `{"id", "object", "deleted": true}`
  (extractors/billing/normalize.py). The row then keeps `is_deleted = true` and the lineage of
  the tombstone, but its `payload` is the latest live version's, so a deleted object still
  shows what it was (which account a deleted customer named, for example).
-#}
{% macro latest_version(relation) -%}
    select
        latest.object_id,
        latest.provider_ref,
        coalesce(live.payload, latest.payload) as payload,
        latest.payload_hash,
        latest.is_deleted,
        latest.extracted_at,
        latest.run_id
    from (
        select
            raw_rows.*,
            row_number() over (
                partition by raw_rows.object_id
                order by
                    raw_rows.extracted_at desc,
                    raw_rows.provider_ref desc nulls last,
                    raw_rows.payload_hash desc
            ) as version_rank
        from {{ relation }} as raw_rows
    ) as latest
    left join (
        select
            raw_rows.object_id,
            raw_rows.payload,
            row_number() over (
                partition by raw_rows.object_id
                order by
                    raw_rows.extracted_at desc,
                    raw_rows.provider_ref desc nulls last,
                    raw_rows.payload_hash desc
            ) as live_rank
        from {{ relation }} as raw_rows
        where not raw_rows.is_deleted
    ) as live
        on latest.object_id = live.object_id
        and live.live_rank = 1
        and latest.is_deleted
    where latest.version_rank = 1
{%- endmacro %}
