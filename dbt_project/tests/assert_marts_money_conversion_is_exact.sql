-- The money macros the marts, reconciliation and exports use are exact and currency-aware on
-- both targets: Stripe's minor units -> major units for a zero-decimal (jpy, krw), a
-- three-decimal (kwd, bhd) and a two-decimal currency (usd, EUR in capitals), back again,
-- and exact division. Values are compared as text so a DOUBLE anywhere (whose text would be
-- `1.2345678901234568e+16` or lose the last digits) fails, not just a wrong value. Amounts
-- are chosen beyond DOUBLE's 15-17 significant digits. Rows returned are broken cases.
with

conversions as (

    select 'jpy' as currency, cast(1234567890123456789 as bigint) as minor, '1234567890123456789.000' as major
    union all select 'krw', cast(-5 as bigint), '-5.000'
    union all select 'kwd', cast(1234567890123456789 as bigint), '1234567890123456.789'
    union all select 'bhd', cast(1 as bigint), '0.001'
    union all select 'usd', cast(1234567890123456789 as bigint), '12345678901234567.890'
    union all select 'EUR', cast(-1 as bigint), '-0.010'

),

conversion_breaks as (

    select
        'minor_to_major' as check_name,
        currency,
        cast(minor as {{ dbt.type_string() }}) as given,
        major as expected,
        cast({{ minor_to_major('minor', 'currency') }} as {{ dbt.type_string() }}) as actual
    from conversions

    union all

    select
        'major_to_minor',
        currency,
        major,
        cast(minor as {{ dbt.type_string() }}),
        cast({{ major_to_minor('cast(major as numeric(22, 3))', 'currency') }} as {{ dbt.type_string() }})
    from conversions

    union all

    -- the two-argument-less (legacy, 2-decimal) form keeps its type and value
    select
        'minor_to_major_default' as check_name,
        'usd' as currency,
        '123456789012345678' as given,
        '1234567890123456.78' as expected,
        cast({{ minor_to_major('cast(123456789012345678 as bigint)') }} as {{ dbt.type_string() }})

    union all

    select
        'minor_to_major_null_currency',
        'null',
        '100',
        'null',
        coalesce(cast({{ minor_to_major('cast(100 as bigint)', 'cast(null as ' ~ dbt.type_string() ~ ')') }} as {{ dbt.type_string() }}), 'null')

),

divisions as (

    select 1 as numerator, 3 as denominator, '0.3333' as quotient
    union all select 2, 3, '0.6667'
    union all select -2, 3, '-0.6667'
    union all select 1, 8, '0.1250'
    union all select 1, 80000, '0.0000'
    union all select 1, 20000, '0.0001'
    union all select -1, 20000, '-0.0001'
    union all select 5, -2, '-2.5000'
    union all select 1234567890123456, 7, '176366841446208.0000'
    union all select 1234567890123457, 12, '102880657510288.0833'

),

division_breaks as (

    select
        'divide_exact' as check_name,
        cast(denominator as {{ dbt.type_string() }}) as currency,
        cast(numerator as {{ dbt.type_string() }}) as given,
        quotient as expected,
        cast({{ divide_exact('numerator', 'denominator', scale=4, precision=20) }} as {{ dbt.type_string() }}) as actual
    from divisions

    union all

    select
        'floor_divide',
        cast(denominator as {{ dbt.type_string() }}),
        cast(numerator as {{ dbt.type_string() }}),
        cast(floor_expected as {{ dbt.type_string() }}),
        cast({{ floor_divide('numerator', 'denominator') }} as {{ dbt.type_string() }})
    from (
        select 7 as numerator, 2 as denominator, 3 as floor_expected
        union all select -7, 2, -4
        union all select 7, -2, -4
        union all select -8, 2, -4
        union all select 9223372036854775, 12, 768614336404564
    ) as floors

)

select * from conversion_breaks
where actual is distinct from expected
union all
select * from division_breaks
where actual is distinct from expected
