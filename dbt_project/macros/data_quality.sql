{#-
  Data-quality findings: the same checks as the `warn` data tests, row by row.

  Input tests (accepted_values, not_null, relationships, unique, in_contract_chart_of_accounts
  on the staging models) are `severity: warn` (dbt_project.yml): they report and never stop
  the build. dq_findings turns each failing row of each of them into a finding, reading the
  tests themselves from the graph (`test_metadata`: name, column, values, `to`/`field`, and the
  test's `where`), so a test added to a staging model's YAML becomes a finding. dq_condition
  is the row rule of each kind: dbt's own tests for the built-in ones, and the one home of the
  rule of q2c's generic test in_contract_chart_of_accounts (defined here).

  dq_test_findings(folders)   one `select` per warn generic test on a model under `folders`,
                              unioned; columns as dq_finding_columns below
  dq_masked(column, value)    the offending value as the contract's `reports` channel allows
                              (policy__sensitivity): a column named for a sensitive field or
                              key shows `[<treatment>: <class>]` instead of the value

  The object id of a finding is the checked model's primary key: the column that has both a
  `unique` and a `not_null` test on that model (every staging model has one).
-#}

{% macro dq_primary_key(model_id) -%}
    {%- set unique_cols = [] -%}
    {%- set not_null_cols = [] -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'test' and node.attached_node == model_id and node.test_metadata -%}
        {%- if node.test_metadata.name == 'unique' -%}{%- do unique_cols.append(node.column_name) -%}{%- endif -%}
        {%- if node.test_metadata.name == 'not_null' -%}{%- do not_null_cols.append(node.column_name) -%}{%- endif -%}
    {%- endfor -%}
    {%- for col in unique_cols if col in not_null_cols -%}
        {%- if loop.first %}{{ col }}{% endif -%}
    {%- endfor -%}
{%- endmacro %}

{% macro dq_masked(column, value, sensitive=none) -%}
    {#- `sensitive`: dq_sensitive_columns(), read once by the caller (it queries the seed) -#}
    {%- set sensitive = dq_sensitive_columns() if sensitive is none else sensitive -%}
    {%- if column | lower in sensitive -%}
        '[{{ sensitive[column | lower] }}]'
    {%- else -%}
        cast({{ value }} as {{ dbt.type_string() }})
    {%- endif -%}
{%- endmacro %}

{#- column name (lowercase, underscores) -> "<treatment>: <class>" for every field or key the
    contract does not allow in reports; read from the policy__sensitivity seed at run time. -#}
{% macro dq_sensitive_columns() -%}
    {%- set found = {} -%}
    {%- if execute -%}
        {%- set rows = run_query(
            "select field_path, class, treatment from " ~ ref('policy__sensitivity')
            ~ " where channel = 'reports' and treatment <> 'allow'"
        ) -%}
        {%- for row in rows -%}
            {%- set leaf = row[0].split('.')[-1] -%}
            {%- set snake = modules.re.sub('([a-z0-9])([A-Z])', '\\1_\\2', leaf) | lower -%}
            {%- do found.update({snake: row[2] ~ ': ' ~ row[1], leaf | lower: row[2] ~ ': ' ~ row[1]}) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(found) }}
{%- endmacro %}

{% macro dq_ref_name(to) -%}
    {#- `ref('stg_x')` (a relationships test's `to`) -> stg_x -#}
    {{- modules.re.search("ref\\(\\s*['\"]([^'\"]+)['\"]", to).group(1) -}}
{%- endmacro %}

{#- The generic tests dq_findings expresses row by row. -#}
{% macro dq_test_kinds() -%}
    {{ return(['not_null', 'unique', 'accepted_values', 'relationships', 'in_contract_chart_of_accounts']) }}
{%- endmacro %}

{#- The rows of `alias` (a row of model `model_name`) that fail test `kind` on `column`. -#}
{% macro dq_condition(kind, alias, column, kwargs, model_name) -%}
    {%- set checked = alias ~ '.' ~ column -%}
    {%- if kind == 'not_null' -%}
        {{ checked }} is null
    {%- elif kind == 'accepted_values' -%}
        {%- set listed = [] -%}
        {%- for v in kwargs['values'] -%}
            {%- do listed.append(("'" ~ v | replace("'", "''") ~ "'") if kwargs.get('quote', true) else v) -%}
        {%- endfor -%}
        {{ checked }} is not null and {{ checked }} not in ({{ listed | join(', ') }})
    {%- elif kind == 'unique' -%}
        {{ checked }} in (select {{ column }} from {{ ref(model_name) }} group by {{ column }} having count(*) > 1)
    {%- elif kind == 'relationships' -%}
        {{ checked }} is not null and not exists (select 1 from {{ ref(q2c.dq_ref_name(kwargs['to']) | trim) }} as parent where parent.{{ kwargs['field'] }} = {{ checked }})
    {%- elif kind == 'in_contract_chart_of_accounts' -%}
        {{ checked }} is not null and {{ checked }} not in (
            select erp_accounts.erp_account_id
            from {{ ref('stg_erp__accounts') }} as erp_accounts
            inner join {{ ref('policy__gl_accounts') }} as gl_accounts
                on gl_accounts.acctnumber = erp_accounts.account_number
        )
    {%- else -%}
        {{ exceptions.raise_compiler_error('dq_condition: no row rule for test ' ~ kind) }}
    {%- endif -%}
{%- endmacro %}

{#- An ERP line posts to a GL account the contract's chart of accounts (policy__gl_accounts)
    does not map: the ERP holds it, but q2c cannot say what role it plays. -#}
{% test in_contract_chart_of_accounts(model, column_name) %}
    select * from {{ model }} as checked
    where {{ q2c.dq_condition('in_contract_chart_of_accounts', 'checked', column_name, {}, none) }}
{% endtest %}

{% macro dq_test_findings(folders) -%}
    {%- set selects = [] -%}
    {%- if execute -%}
    {#- read once per build, not once per test: the seed's sensitive columns, and each checked
        model's columns and primary key (a query and a walk of the graph each) -#}
    {%- set sensitive = q2c.dq_sensitive_columns() -%}
    {%- set model_columns = {} -%}
    {%- set model_pks = {} -%}
    {%- for node in graph.nodes.values() | sort(attribute='unique_id')
        if node.resource_type == 'test' and node.test_metadata
        and node.config.severity | lower == 'warn'
        and node.test_metadata.name in dq_test_kinds() -%}
        {%- set model = graph.nodes.get(node.attached_node) -%}
        {%- if model and model.resource_type == 'model' and model.fqn[1] in folders -%}
            {%- set kind = node.test_metadata.name -%}
            {%- set kwargs = node.test_metadata.kwargs -%}
            {%- set column = node.column_name -%}
            {%- if model.unique_id not in model_pks -%}
                {%- do model_pks.update({model.unique_id: q2c.dq_primary_key(model.unique_id) | trim}) -%}
                {%- do model_columns.update({model.unique_id: adapter.get_columns_in_relation(ref(model.name)) | map(attribute='name') | map('lower') | list}) -%}
            {%- endif -%}
            {%- set pk = model_pks[model.unique_id] -%}
            {%- set raw_sources = [] -%}
            {%- for dep in model.depends_on.nodes if dep.startswith('source.') -%}{%- do raw_sources.append(dep) -%}{%- endfor -%}
            {%- set source_parts = (raw_sources[0].split('.') if raw_sources else ['', '', 'q2c', model.name]) -%}
            {%- set checked = 'checked.' ~ column -%}
            {%- set condition = q2c.dq_condition(kind, 'checked', column, kwargs, model.name) | trim -%}
            {%- if node.config.get('where') -%}
                {%- set condition = condition ~ ' and (' ~ node.config.where ~ ')' -%}
            {%- endif -%}
            {%- set columns = model_columns[model.unique_id] -%}
            {%- set sql -%}
    select
        cast('{{ kind }}:{{ model.name }}.{{ column }}' as {{ dbt.type_string() }}) as check_name,
        cast('{{ kind }}' as {{ dbt.type_string() }}) as check_kind,
        cast('{{ model.name }}' as {{ dbt.type_string() }}) as model_name,
        cast('{{ column }}' as {{ dbt.type_string() }}) as column_name,
        cast('{{ source_parts[2] }}' as {{ dbt.type_string() }}) as source_name,
        cast('{{ source_parts[3] }}' as {{ dbt.type_string() }}) as source_object,
        cast({{ ('checked.' ~ pk) if pk else 'null' }} as {{ dbt.type_string() }}) as object_id,
        {{ q2c.dq_masked(column, checked, sensitive) }} as offending_value,
        {{ q2c.timestamptz_to_utc('checked.extracted_at') if 'extracted_at' in columns else 'cast(null as timestamp)' }} as since,
        cast(null as {{ dbt.type_string() }}) as reason
    from {{ ref(model.name) }} as checked
    where {{ condition }}
            {%- endset -%}
            {%- do selects.append(sql) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- endif -%}
    {%- if selects -%}
        {{ selects | join('\n    union all\n') }}
    {%- else -%}
    select
        {%- for name in ['check_name', 'check_kind', 'model_name', 'column_name', 'source_name', 'source_object', 'object_id', 'offending_value'] %}
        cast(null as {{ dbt.type_string() }}) as {{ name }},
        {%- endfor %}
        cast(null as timestamp) as since,
        cast(null as {{ dbt.type_string() }}) as reason
    where 1 = 0
    {%- endif -%}
{%- endmacro %}

{#- The `id` (or Salesforce `Id`) of a quarantined record's raw text, when it has one. -#}
{% macro dq_raw_id(raw) -%}
    {{ return(adapter.dispatch('dq_raw_id', 'q2c')(raw)) }}
{%- endmacro %}

{% macro duckdb__dq_raw_id(raw) -%}
    nullif(regexp_extract({{ raw }}, '"[Ii]d"\s*:\s*"([^"]+)"', 1), '')
{%- endmacro %}

{% macro postgres__dq_raw_id(raw) -%}
    substring({{ raw }} from '"[Ii]d"\s*:\s*"([^"]+)"')
{%- endmacro %}
