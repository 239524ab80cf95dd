{#-
  The latest landed version of each object in a raw table: the row with the newest
  `extracted_at`, ties broken by the newest `provider_ref`, then the payload hash so the pick
  is deterministic. Raw tables are append-only; staging reads only this view of them.
-#}
{% macro latest_version(relation) -%}
    select *
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
    ) as ranked
    where version_rank = 1
{%- endmacro %}
