{#-
  The latest landed version of each object in a raw table: the row with the newest
  `extracted_at`, ties broken by the newest `provider_ref`, then the payload hash so the pick
  is deterministic. Raw tables are append-only; staging reads only this view of them.

  A deletion lands as a tombstone whose payload is only `{"id", "object", "deleted": true}`
  (extractors/billing/normalize.py). The row then keeps `is_deleted = true` and the lineage of
  the tombstone, but its `payload` is the latest live version's, so a deleted object still
  shows what it was (which account a deleted customer named, for example).

  Memory: the windows rank only the narrow columns (`versions`); the JSON payload is read
  once, by a join on the one version whose payload the object shows (`payload_version`), so
  no sort, window or hash table ever holds the payloads (holding them, the M build ran out of
  memory under DuckDB's 1GB and 2GB limits: bench/RESULTS.md). A version is found again by
  (object_id, extracted_at, provider_ref, payload_hash, is_deleted); two raw rows equal on all
  of these carry the same payload (same hash), and only for such keys (`key_copies > 1`, none in
  practice) is one of the copies kept by a window over the few joined rows.

  In an incremental build (`is_incremental()`: the staging model exists and the run is not a
  full refresh) only the objects that landed since the last build are read, and for each of
  them the latest version over ALL its raw versions is computed again (`landed_since_last_build`),
  so the model's delete+insert on its object key replaces exactly the rows that changed.
-#}
{% macro latest_version(relation) -%}
    {%- set versions -%}
        select
            raw_rows.object_id,
            raw_rows.provider_ref,
            raw_rows.payload_hash,
            raw_rows.is_deleted,
            raw_rows.extracted_at,
            raw_rows.run_id,
            row_number() over (
                partition by raw_rows.object_id
                order by
                    raw_rows.extracted_at desc,
                    raw_rows.provider_ref desc nulls last,
                    raw_rows.payload_hash desc
            ) as version_rank,
            {#- the newest live version and the newest tombstone each rank 1 -#}
            row_number() over (
                partition by raw_rows.object_id, raw_rows.is_deleted
                order by
                    raw_rows.extracted_at desc,
                    raw_rows.provider_ref desc nulls last,
                    raw_rows.payload_hash desc
            ) as state_rank,
            bool_or(not raw_rows.is_deleted) over (
                partition by raw_rows.object_id
            ) as has_live_version,
            count(*) over (
                partition by
                    raw_rows.object_id,
                    raw_rows.extracted_at,
                    coalesce(raw_rows.provider_ref, ''),
                    raw_rows.payload_hash,
                    raw_rows.is_deleted
            ) as key_copies
        from {{ relation }} as raw_rows
        {{ landed_since_last_build(relation, 'raw_rows') }}
    {%- endset -%}
    {#- the latest version's columns, the payload of `payload_version`: the newest live one if
        the object has one, else the latest (tombstone) itself -#}
    {%- set picked -%}
        select
            latest.object_id,
            latest.provider_ref,
            raw_payload.payload,
            latest.payload_hash,
            latest.is_deleted,
            latest.extracted_at,
            latest.run_id
        from ({{ versions }}) as latest
        inner join ({{ versions }}) as payload_version
            on payload_version.object_id = latest.object_id
            and payload_version.state_rank = 1
            and (not payload_version.is_deleted or not payload_version.has_live_version)
        inner join {{ relation }} as raw_payload
            on raw_payload.object_id = payload_version.object_id
            and raw_payload.extracted_at = payload_version.extracted_at
            and coalesce(raw_payload.provider_ref, '') = coalesce(payload_version.provider_ref, '')
            and raw_payload.payload_hash = payload_version.payload_hash
            and raw_payload.is_deleted = payload_version.is_deleted
        where latest.version_rank = 1
    {%- endset -%}
    {{ picked }}
        and payload_version.key_copies = 1
    union all
    select object_id, provider_ref, payload, payload_hash, is_deleted, extracted_at, run_id
    from (
        select
            copies.*,
            row_number() over (partition by copies.object_id) as copy_rank
        from ({{ picked }} and payload_version.key_copies > 1) as copies
    ) as one_copy
    where one_copy.copy_rank = 1
{%- endmacro %}


{#-
  The watermark of an incremental staging build: `where <alias>.object_id in (...)` the objects
  of `relation` with a version landed at or after the newest `extracted_at` the model already
  holds, minus a safety lookback (var `q2c_incremental_lookback_minutes`: default 60 on PostgreSQL, 0 on DuckDB); nothing
  (every object) outside an incremental build.

  Why `extracted_at` with a lookback: q2c.landing stamps each page's rows with the landing
  time (read after PostgreSQL's per-table advisory lock is held) in the transaction that
  appends them, and raw tables are append-only, so a row the last build did not see has an
  `extracted_at` after that build's newest one, except a page whose transaction was still
  open while the build read the table (committed later with an earlier stamp) or a lander on
  another host whose clock is behind: the lookback covers both, as long as no landing
  transaction stays open (and no clock is off) for longer than it. Rows inside the lookback
  are read again, which is harmless (their objects' latest versions come out the same) but
  costs: right after a backfill every object landed within the lookback of the table's last
  page is read again. DuckDB needs none: one process at a time writes the file, so no landing
  transaction can be open while dbt reads it, and embedded landers share dbt's host clock.
  A model that holds no rows yet reads everything (the watermark falls back to 1970).
  Raw payloads changed in place (`q2c forget` redacts them) are not seen here: the erasure
  redacts staging itself, and the next `q2c run` rebuilds in full (orchestration/assets/dbt.py).
-#}
{% macro landed_since_last_build(relation, alias, keyword='where') -%}
    {#- `this` is none where dbt renders the model without a relation (its unit tests) -#}
    {%- if this is not none and is_incremental() %}
        {{ keyword }} {{ alias }}.object_id in (
            select landed.object_id
            from {{ relation }} as landed
            where landed.extracted_at >= (
                select coalesce(max(built.extracted_at), cast('1970-01-01 00:00:00+00' as timestamptz))
                from {{ this }} as built
            ) - interval '{{ var("q2c_incremental_lookback_minutes", 0 if target.type == 'duckdb' else 60) | int }} minutes'
        )
    {%- endif %}
{%- endmacro %}
