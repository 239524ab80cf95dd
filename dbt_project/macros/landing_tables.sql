{#-
  on-run-start: make every declared source queryable on a fresh warehouse.
  - `raw.<source>__<object>` tables with the landing columns of docs/INTERFACES.md section 3
    (the same DDL, and on PostgreSQL the same `object_id` index, as q2c/landing.py), created empty when the extractors have not landed that object yet (an object with no rows
    is a real state, e.g. no disputes yet), so staging builds instead of failing.
  - `ops.export_ledger`: the ERP's answer to each journal entry the export step sent (the same
    DDL as q2c/exports/ledger.py LEDGER_DDL; a unit test keeps them equal). The `export_*`
    models leave out entries the ERP accepted.
  `create ... if not exists` never touches an existing table.
-#}
{% macro create_landing_tables() %}
    {% if execute %}
        {% set payload_type = 'jsonb' if target.type == 'postgres' else 'json' %}
        {% set schemas = [] %}
        {% for node in graph.sources.values() if node.source_name in ['billing', 'salesforce', 'erp'] %}
            {% if node.schema not in schemas %}
                {% do run_query('create schema if not exists ' ~ node.schema) %}
                {% do schemas.append(node.schema) %}
            {% endif %}
            {#- the DDL of q2c/landing.py raw_table_ddl (tests/unit/test_landing_rules.py) -#}
            {% do run_query(
                'create table if not exists ' ~ node.schema ~ '.' ~ node.identifier ~ ' ('
                ~ 'object_id text not null, provider_ref text, payload ' ~ payload_type ~ ' not null,'
                ~ ' payload_hash text not null, is_deleted boolean not null default false,'
                ~ ' extracted_at timestamptz not null, run_id text not null)'
            ) %}
            {% if target.type == 'postgres' %}
                {% do run_query(
                    'create index if not exists ' ~ node.identifier ~ '__object_id_ix on '
                    ~ node.schema ~ '.' ~ node.identifier ~ ' (object_id)'
                ) %}
            {% endif %}
        {% endfor %}
        {% do run_query('create schema if not exists ops') %}
        {% do run_query(
            'create table if not exists ops.export_ledger ('
            ~ 'idempotency_key text not null primary key, external_id text not null, '
            ~ 'batch_id text not null, content_hash text not null, status text not null, '
            ~ 'erp_transaction_id text, error_code text, error_detail text, '
            ~ 'recorded_at timestamptz not null, run_id text not null)'
        ) %}
    {% endif %}
    select 1 as landing_tables_ready
{% endmacro %}
