{#-
  SQL that differs between DuckDB and Postgres, one macro each, dispatched on the adapter.
  Models never spell JSON paths, epoch conversion or date arithmetic directly.
  Timestamps are naive UTC (`timestamp` without zone) on both targets, so results do not
  depend on the session time zone.
-#}

{#- JSON text at a dotted path (`metadata.salesforce_account_id`), null when absent. -#}
{% macro json_text(column, path) -%}
    {{ return(adapter.dispatch('json_text', 'q2c')(column, path)) }}
{%- endmacro %}

{% macro duckdb__json_text(column, path) -%}
    json_extract_string({{ column }}, '{{ q2c.duckdb_json_path(path) }}')
{%- endmacro %}

{% macro postgres__json_text(column, path) -%}
    ({{ column }} #>> '{ {{- path.split(".") | join(",") -}} }')
{%- endmacro %}

{% macro default__json_text(column, path) -%}
    {{ exceptions.raise_compiler_error("json_text is not implemented for adapter " ~ adapter.type()) }}
{%- endmacro %}

{#- A DuckDB JSONPath from a dotted path; numeric parts are array indexes. -#}
{% macro duckdb_json_path(path) -%}
    ${% for key in path.split(".") %}{% if key.isdigit() %}[{{ key }}]{% else %}."{{ key }}"{% endif %}{% endfor %}
{%- endmacro %}

{#- Typed readers over json_text. -#}
{% macro json_bigint(column, path) -%}
    cast({{ q2c.json_text(column, path) }} as bigint)
{%- endmacro %}

{% macro json_decimal(column, path, precision=18, scale=2) -%}
    cast({{ q2c.json_text(column, path) }} as numeric({{ precision }}, {{ scale }}))
{%- endmacro %}

{% macro json_bool(column, path) -%}
    cast({{ q2c.json_text(column, path) }} as boolean)
{%- endmacro %}

{#- Sum of an integer field over the elements of a JSON array (0 for a missing/empty array). -#}
{% macro json_array_sum(column, array_path, field) -%}
    {{ return(adapter.dispatch('json_array_sum', 'q2c')(column, array_path, field)) }}
{%- endmacro %}

{% macro duckdb__json_array_sum(column, array_path, field) -%}
    coalesce(cast(list_sum(cast(json_extract({{ column }}, '{{ q2c.duckdb_json_path(array_path) }}[*]."{{ field }}"') as bigint[])) as bigint), 0)
{%- endmacro %}

{% macro postgres__json_array_sum(column, array_path, field) -%}
    coalesce((
        select cast(sum((element ->> '{{ field }}')::bigint) as bigint)
        from jsonb_array_elements(
            case when jsonb_typeof({{ column }} #> '{ {{- array_path.split(".") | join(",") -}} }') = 'array'
                then {{ column }} #> '{ {{- array_path.split(".") | join(",") -}} }'
                else '[]'::jsonb end
        ) as element
    ), cast(0 as bigint))
{%- endmacro %}

{#- Number of elements of a JSON array (0 when missing). -#}
{% macro json_array_length(column, array_path) -%}
    {{ return(adapter.dispatch('json_array_length', 'q2c')(column, array_path)) }}
{%- endmacro %}

{% macro duckdb__json_array_length(column, array_path) -%}
    cast(coalesce(json_array_length({{ column }}, '{{ q2c.duckdb_json_path(array_path) }}'), 0) as bigint)
{%- endmacro %}

{% macro postgres__json_array_length(column, array_path) -%}
    coalesce(case when jsonb_typeof({{ column }} #> '{ {{- array_path.split(".") | join(",") -}} }') = 'array'
        then jsonb_array_length({{ column }} #> '{ {{- array_path.split(".") | join(",") -}} }') end, 0)
{%- endmacro %}

{#- Epoch seconds -> naive UTC timestamp. -#}
{% macro epoch_to_timestamp(expression) -%}
    {{ return(adapter.dispatch('epoch_to_timestamp', 'q2c')(expression)) }}
{%- endmacro %}

{% macro duckdb__epoch_to_timestamp(expression) -%}
    make_timestamp(cast({{ expression }} as bigint) * 1000000)
{%- endmacro %}

{% macro postgres__epoch_to_timestamp(expression) -%}
    (to_timestamp(cast({{ expression }} as bigint)) at time zone 'UTC')
{%- endmacro %}

{#- ISO 8601 text in UTC (`...000Z`, `...Z`, `...000+0000`) -> naive UTC timestamp. -#}
{% macro iso_to_timestamp(expression) -%}
    {{ return(adapter.dispatch('iso_to_timestamp', 'q2c')(expression)) }}
{%- endmacro %}

{% macro default__iso_to_timestamp(expression) -%}
    cast(replace(substr({{ expression }}, 1, 19), 'T', ' ') as timestamp)
{%- endmacro %}

{#- First day of the month, as a date. -#}
{% macro month_start(expression) -%}
    {{ return(adapter.dispatch('month_start', 'q2c')(expression)) }}
{%- endmacro %}

{% macro duckdb__month_start(expression) -%}
    cast(date_trunc('month', cast({{ expression }} as timestamp)) as date)
{%- endmacro %}

{% macro postgres__month_start(expression) -%}
    cast(date_trunc('month', cast({{ expression }} as timestamp)) as date)
{%- endmacro %}

{#- Whole days from `start` to `end` (dates or timestamps). -#}
{% macro days_between(start, end) -%}
    {{ return(adapter.dispatch('days_between', 'q2c')(start, end)) }}
{%- endmacro %}

{% macro duckdb__days_between(start, end) -%}
    cast(date_diff('day', cast({{ start }} as date), cast({{ end }} as date)) as integer)
{%- endmacro %}

{% macro postgres__days_between(start, end) -%}
    cast(cast({{ end }} as date) - cast({{ start }} as date) as integer)
{%- endmacro %}

{#- Seconds from `start` to `end` (timestamps). -#}
{% macro seconds_between(start, end) -%}
    {{ return(adapter.dispatch('seconds_between', 'q2c')(start, end)) }}
{%- endmacro %}

{% macro duckdb__seconds_between(start, end) -%}
    date_diff('second', {{ start }}, {{ end }})
{%- endmacro %}

{% macro postgres__seconds_between(start, end) -%}
    cast(extract(epoch from ({{ end }} - {{ start }})) as bigint)
{%- endmacro %}

{#- Add whole months to a date. -#}
{% macro add_months(expression, months) -%}
    {{ return(adapter.dispatch('add_months', 'q2c')(expression, months)) }}
{%- endmacro %}

{% macro duckdb__add_months(expression, months) -%}
    cast(cast({{ expression }} as date) + to_months(cast({{ months }} as integer)) as date)
{%- endmacro %}

{% macro postgres__add_months(expression, months) -%}
    cast(cast({{ expression }} as date) + make_interval(months => cast({{ months }} as integer)) as date)
{%- endmacro %}

{#- One row per month start from `start` to `end` inclusive, column `month_start`. -#}
{% macro month_series(start, end) -%}
    {{ return(adapter.dispatch('month_series', 'q2c')(start, end)) }}
{%- endmacro %}

{% macro duckdb__month_series(start, end) -%}
    select cast(generate_series as date) as month_start
    from generate_series(cast({{ start }} as timestamp), cast({{ end }} as timestamp), interval 1 month)
{%- endmacro %}

{% macro postgres__month_series(start, end) -%}
    select cast(series as date) as month_start
    from generate_series(cast({{ start }} as timestamp), cast({{ end }} as timestamp), interval '1 month') as series
{%- endmacro %}

{#- Money between Stripe's integer minor units and exact major-unit decimals.

    Stripe amounts are integers in the currency's smallest unit: 100 = 1.00 usd, but 100 = 100
    jpy (zero-decimal currencies) and 1000 = 1.000 kwd (three-decimal currencies), per
    https://docs.stripe.com/currencies. The two lists are the dbt vars
    `q2c_zero_decimal_currencies` and `q2c_three_decimal_currencies` (defaults below, Stripe's
    documented lists, lowercase as Stripe sends currency codes); every other currency has 2.

    Conversion only multiplies by a decimal literal (`* 0.01`, `* 0.001`): DuckDB's `/` on
    decimals returns DOUBLE, multiplication keeps DECIMAL, so the result is exact on both
    targets. With a currency, the result is numeric(22, 3): one type for every currency, wide
    enough for any bigint amount, exact in each (1.000 kwd, 12.340 usd, 1500.000 jpy); a null
    currency gives null rather than a guess. Without a currency (the signature older callers
    use) the amount is taken as a 2-decimal currency and the result is numeric(20, 2). -#}
{% macro q2c_zero_decimal_currencies() -%}
    {{ return(var('q2c_zero_decimal_currencies', [
        'bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd',
        'vuv', 'xaf', 'xof', 'xpf'
    ])) }}
{%- endmacro %}

{% macro q2c_three_decimal_currencies() -%}
    {{ return(var('q2c_three_decimal_currencies', ['bhd', 'jod', 'kwd', 'omr', 'tnd'])) }}
{%- endmacro %}

{#- SQL list literal of lowercase codes: ('jpy', 'krw'). -#}
{% macro q2c_currency_list_sql(codes) -%}
    ('{{ codes | map('lower') | join("', '") }}')
{%- endmacro %}

{#- Decimal places of a currency expression (0, 2 or 3), null for a null currency. -#}
{% macro currency_decimals(currency) -%}
    case
        when {{ currency }} is null then null
        when lower({{ currency }}) in {{ q2c.q2c_currency_list_sql(q2c.q2c_zero_decimal_currencies()) }} then 0
        when lower({{ currency }}) in {{ q2c.q2c_currency_list_sql(q2c.q2c_three_decimal_currencies()) }} then 3
        else 2
    end
{%- endmacro %}

{#- Minor units (integer) -> major units (exact decimal) in `currency` (a SQL expression:
    a column, or a quoted literal such as "'jpy'"). -#}
{% macro minor_to_major(expression, currency=none) -%}
    {%- if currency is none -%}
    cast(cast({{ expression }} as numeric(20, 0)) * 0.01 as numeric(20, 2))
    {%- else -%}
    case
        when {{ currency }} is null then cast(null as numeric(22, 3))
        when lower({{ currency }}) in {{ q2c.q2c_currency_list_sql(q2c.q2c_zero_decimal_currencies()) }}
            then cast(cast({{ expression }} as numeric(22, 0)) as numeric(22, 3))
        when lower({{ currency }}) in {{ q2c.q2c_currency_list_sql(q2c.q2c_three_decimal_currencies()) }}
            then cast(cast({{ expression }} as numeric(22, 0)) * 0.001 as numeric(22, 3))
        else cast(cast({{ expression }} as numeric(22, 0)) * 0.01 as numeric(22, 3))
    end
    {%- endif -%}
{%- endmacro %}

{#- Major units (exact decimal) -> integer minor units of `currency`, rounded half away from
    zero to the currency's smallest unit (a major amount finer than that is not a valid
    amount). Without a currency: a 2-decimal currency. -#}
{% macro major_to_minor(expression, currency=none) -%}
    {%- if currency is none -%}
    cast(round(cast({{ expression }} as numeric(22, 3)) * 100, 0) as bigint)
    {%- else -%}
    case
        when {{ currency }} is null then cast(null as bigint)
        when lower({{ currency }}) in {{ q2c.q2c_currency_list_sql(q2c.q2c_zero_decimal_currencies()) }}
            then cast(round(cast({{ expression }} as numeric(22, 3)), 0) as bigint)
        when lower({{ currency }}) in {{ q2c.q2c_currency_list_sql(q2c.q2c_three_decimal_currencies()) }}
            then cast(round(cast({{ expression }} as numeric(22, 3)) * 1000, 0) as bigint)
        else cast(round(cast({{ expression }} as numeric(22, 3)) * 100, 0) as bigint)
    end
    {%- endif -%}
{%- endmacro %}

{#- Exact decimal division, rounded half away from zero to `scale` places, as
    numeric(`precision`, `scale`). DuckDB's `/` on decimals returns DOUBLE, so the quotient is
    computed in integers on both targets: the numerator scaled to an integer (exactly: it
    must have at most `scale` decimal places), divided by the integer denominator with
    truncation, and scaled back by multiplying with a decimal literal (which keeps DECIMAL).
    Division by zero is an error on both targets. -#}
{% macro divide_exact(numerator, denominator, scale=4, precision=20) -%}
    {%- set scaled = q2c.to_integer("cast(" ~ numerator ~ " as numeric(28, " ~ scale ~ ")) * " ~ (10 ** scale)) -%}
    {%- set divisor = q2c.to_integer(denominator) -%}
    cast(
        cast(
            sign({{ scaled }}) * sign({{ divisor }})
            * {{ q2c.truncating_divide("abs(" ~ scaled ~ ") * 2 + abs(" ~ divisor ~ ")", "abs(" ~ divisor ~ ") * 2") }}
        as numeric(38, 0))
        {%- if scale > 0 %} * 0.{{ '0' * (scale - 1) }}1{% endif %}
    as numeric({{ precision }}, {{ scale }}))
{%- endmacro %}

{#- Floor of the division of two integer expressions (toward minus infinity), as bigint. -#}
{% macro floor_divide(numerator, denominator) -%}
    {%- set n = q2c.to_integer(numerator) -%}
    {%- set d = q2c.to_integer(denominator) -%}
    cast(
        {{ q2c.truncating_divide(n, d) }}
        - case when {{ n }} % {{ d }} <> 0 and (({{ n }} < 0) <> ({{ d }} < 0)) then 1 else 0 end
    as bigint)
{%- endmacro %}

{#- A wide exact integer (hugeint on DuckDB, numeric(38, 0) on Postgres). -#}
{% macro to_integer(expression) -%}
    {{ return(adapter.dispatch('to_integer', 'q2c')(expression)) }}
{%- endmacro %}

{% macro duckdb__to_integer(expression) -%}
    cast({{ expression }} as hugeint)
{%- endmacro %}

{% macro default__to_integer(expression) -%}
    cast({{ expression }} as numeric(38, 0))
{%- endmacro %}

{#- Integer division truncating toward zero, of two to_integer values. -#}
{% macro truncating_divide(numerator, denominator) -%}
    {{ return(adapter.dispatch('truncating_divide', 'q2c')(numerator, denominator)) }}
{%- endmacro %}

{% macro duckdb__truncating_divide(numerator, denominator) -%}
    (({{ numerator }}) // ({{ denominator }}))
{%- endmacro %}

{% macro default__truncating_divide(numerator, denominator) -%}
    div({{ numerator }}, {{ denominator }})
{%- endmacro %}

{#- Unnest a JSON array: `from t {{ json_unnest_join('t.payload', 'lines.data') }}` adds one
    row per element, read with `{{ json_unnest_column() }}` (a JSON value). Rows whose array is
    missing or empty produce no rows. -#}
{% macro json_unnest_join(column, array_path) -%}
    {{ return(adapter.dispatch('json_unnest_join', 'q2c')(column, array_path)) }}
{%- endmacro %}

{% macro duckdb__json_unnest_join(column, array_path) -%}
    cross join unnest(
        cast(coalesce(json_extract({{ column }}, '{{ q2c.duckdb_json_path(array_path) }}'), '[]') as json[])
    ) as unnested(element)
{%- endmacro %}

{% macro postgres__json_unnest_join(column, array_path) -%}
    cross join lateral jsonb_array_elements(
        case when jsonb_typeof({{ column }} #> '{ {{- array_path.split(".") | join(",") -}} }') = 'array'
            then {{ column }} #> '{ {{- array_path.split(".") | join(",") -}} }'
            else '[]'::jsonb end
    ) as unnested(element)
{%- endmacro %}

{% macro json_unnest_column() -%}
    unnested.element
{%- endmacro %}

{#- md5 of the JSON value at a path (text form of the target's JSON type), to compare payloads. -#}
{% macro json_md5(column, path) -%}
    {{ return(adapter.dispatch('json_md5', 'q2c')(column, path)) }}
{%- endmacro %}

{% macro duckdb__json_md5(column, path) -%}
    md5(cast(json_extract({{ column }}, '{{ q2c.duckdb_json_path(path) }}') as varchar))
{%- endmacro %}

{% macro postgres__json_md5(column, path) -%}
    md5(({{ column }} #> '{ {{- path.split(".") | join(",") -}} }')::text)
{%- endmacro %}

{#- timestamptz -> naive UTC timestamp, whatever the session time zone. -#}
{% macro timestamptz_to_utc(expression) -%}
    {{ return(adapter.dispatch('timestamptz_to_utc', 'q2c')(expression)) }}
{%- endmacro %}

{% macro duckdb__timestamptz_to_utc(expression) -%}
    timezone('UTC', cast({{ expression }} as timestamptz))
{%- endmacro %}

{% macro postgres__timestamptz_to_utc(expression) -%}
    (cast({{ expression }} as timestamptz) at time zone 'UTC')
{%- endmacro %}

{#- Naive UTC timestamp -> whole epoch seconds. -#}
{% macro timestamp_to_epoch(expression) -%}
    {{ return(adapter.dispatch('timestamp_to_epoch', 'q2c')(expression)) }}
{%- endmacro %}

{% macro duckdb__timestamp_to_epoch(expression) -%}
    cast(epoch(cast({{ expression }} as timestamp)) as bigint)
{%- endmacro %}

{% macro postgres__timestamp_to_epoch(expression) -%}
    cast(extract(epoch from cast({{ expression }} as timestamp)) as bigint)
{%- endmacro %}
