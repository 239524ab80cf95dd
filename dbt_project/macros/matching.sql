{#-
  The company mapping of the contract (policy/ownership.yml `mapping`, dbt vars
  q2c_value_maps, q2c_links, q2c_matching): picklist values onto q2c's canonical words, the
  link fields between systems, and the tolerances of rule matches. Models never spell a
  company's custom field names, labels or tolerances; they call these.
-#}

{#- The lookup key of a picklist value: every run of characters other than letters and digits
    one space, trimmed, lowercased unless the map is case-sensitive (q2c.policy.model
    normalize_value does the same to the contract's labels). -#}
{% macro normalized_value(expression, case_insensitive=true) -%}
    {%- set spaced = "trim(regexp_replace(cast(" ~ expression ~ " as " ~ dbt.type_string() ~ "), '[^A-Za-z0-9]+', ' ', 'g'))" -%}
    {%- if case_insensitive -%}lower({{ spaced }}){%- else -%}{{ spaced }}{%- endif -%}
{%- endmacro %}

{#- The canonical word of `expression` in value map `map_name` (billing_status,
    opportunity_stage, case_status, case_priority); null when the map does not name the value
    (a data-quality finding: compare `expression is not null and canonical is null`). -#}
{% macro canonical_value(map_name, expression) -%}
    {%- set vmap = var('q2c_value_maps')[map_name] -%}
    case {{ q2c.normalized_value(expression, vmap['case_insensitive']) }}
    {%- for key, word in vmap['values'].items() %}
        when '{{ key | replace("'", "''") }}' then '{{ word }}'
    {%- endfor %}
    end
{%- endmacro %}

{#- A link field of the contract: q2c_links.<path> (`customer_account.crm_field`). -#}
{% macro link_field(path) -%}
    {%- set node = namespace(value=var('q2c_links')) -%}
    {%- for key in path.split('.') -%}{%- set node.value = node.value[key] -%}{%- endfor -%}
    {{- node.value -}}
{%- endmacro %}

{#- A matching setting of the contract: q2c_matching.<name>. -#}
{% macro matching_setting(name) -%}
    {{- var('q2c_matching')[name] -}}
{%- endmacro %}

{#- Whether the contract's matching tries `tier` (explicit_id, external_id, rule). -#}
{% macro matching_tier_on(tier) -%}
    {{- return(tier in var('q2c_matching')['tiers']) -}}
{%- endmacro %}

{#- True when two amounts in minor units are equal within the contract's tolerance: the larger
    of amount_tolerance_minor and amount_tolerance_bps of the expected amount. -#}
{% macro amounts_within_tolerance(expected_minor, actual_minor) -%}
    abs(({{ actual_minor }}) - ({{ expected_minor }})) <= greatest(
        {{ q2c.matching_setting('amount_tolerance_minor') }},
        abs({{ expected_minor }}) * {{ q2c.matching_setting('amount_tolerance_bps') }} / 10000
    )
{%- endmacro %}

{#- The first match of a POSIX regular expression in a text, or null. -#}
{% macro regex_first_match(expression, pattern) -%}
    {{ return(adapter.dispatch('regex_first_match', 'q2c')(expression, pattern)) }}
{%- endmacro %}

{% macro duckdb__regex_first_match(expression, pattern) -%}
    nullif(regexp_extract({{ expression }}, '{{ pattern | replace("'", "''") }}', 0), '')
{%- endmacro %}

{% macro postgres__regex_first_match(expression, pattern) -%}
    (regexp_match({{ expression }}, '({{ pattern | replace("'", "''") }})'))[1]
{%- endmacro %}

{#- Confidence (0..1) of the matching tier in the SQL expression `method` (explicit_id 1,
    external_id 0.95, rule 0.8, content 0.7; unmatched 1: every tier was tried and none
    matched), recorded with match_method on every break. -#}
{% macro match_confidence(method) -%}
    cast(case {{ method }}
        when 'explicit_id' then 1
        when 'external_id' then 0.95
        when 'rule' then 0.8
        when 'content' then 0.7
        else 1
    end as numeric(3, 2))
{%- endmacro %}

{#- The API name of a mapped CRM/support custom field (`account.billing_status` ->
    Billing_Status__c), from the contract's entity map. -#}
{% macro crm_field(entity_field) -%}
    {{- var('q2c_crm_custom_fields')[entity_field] -}}
{%- endmacro %}

{#- Rule-match candidates (`relation`: one row per candidate pair of `left_key` and
    `right_key`, with `distance`, e.g. days apart) ranked the way a person would: each side
    keeps only its nearest candidates. A pair matches (`is_one_to_one`) when each side is the
    other's one nearest candidate; a side with two or more candidates at its nearest distance
    is ambiguous (`left_candidates` / `right_candidates` > 1, `is_ambiguous_pair`). -#}
{% macro candidate_counts(relation, left_key, right_key, distance='0') -%}
    select
        best.*,
        best.distance = best.left_best and best.distance = best.right_best
            and best.left_candidates = 1 and best.right_candidates = 1 as is_one_to_one,
        (best.distance = best.left_best and best.left_candidates > 1)
            or (best.distance = best.right_best and best.right_candidates > 1)
            as is_ambiguous_pair
    from (
        select
            nearest.*,
            sum(case when nearest.distance = nearest.left_best then 1 else 0 end)
                over (partition by nearest.{{ left_key }}) as left_candidates,
            sum(case when nearest.distance = nearest.right_best then 1 else 0 end)
                over (partition by nearest.{{ right_key }}) as right_candidates
        from (
            select
                {{ left_key }},
                {{ right_key }},
                {{ distance }} as distance,
                min({{ distance }}) over (partition by {{ left_key }}) as left_best,
                min({{ distance }}) over (partition by {{ right_key }}) as right_best
            from {{ relation }}
        ) as nearest
    ) as best
{%- endmacro %}

{#- The case-sensitive 15-character key of a Salesforce record id: the 18-character API id
    only adds a case checksum, and integrations often store the 15-character form. Compare
    Salesforce ids held outside Salesforce (billing metadata) through this. -#}
{% macro salesforce_id_key(expression) -%}
    substr({{ expression }}, 1, 15)
{%- endmacro %}

{#- A picklist value with nothing but spaces is no value (an org's blank picklist entry). -#}
{% macro blank_as_null(expression) -%}
    case when trim({{ expression }}) = '' then null else {{ expression }} end
{%- endmacro %}
