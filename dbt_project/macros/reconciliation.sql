{#-
  The shape every `rec_*` model ends with: one row per break.
    break_id            stable id: kind and the ids of both sides
    break_kind          the discrepancy kind names of docs/INTERFACES.md ("Discrepancy kinds")
    system_of_record    the system whose value decides (policy__entities)
    entity              the business object (policy__entities.entity)
    source_system/_object_type/_object_id   the side the SoR holds
    target_system/_object_type/_object_id   the side that disagrees or lacks it (null: missing)
    source_amount, target_amount, difference_amount   exact decimals in major units,
                        numeric(22, 3): every currency exact (kwd has 3 decimals, jpy 0),
                        converted with minor_to_major(amount, currency) (macros/cross_db.sql)
    currency, target_currency
    occurred_at         when the source fact happened (naive UTC)
    period_month        its month, for the summary
    age_days            days from occurred_at to the data's as-of time
    detail              short text for people: what differs
    match_method        how the two sides were paired: explicit_id (a link field names the
                        other side), external_id (the ERP record's external id, document
                        number or memo id), rule (same account and currency, amount within
                        tolerance, dates within the window), content (a duplicate found by
                        its content), unmatched (no tier found the other side)
    confidence          how sure that pairing is, 0..1 (match_confidence in macros/matching.sql)
    related_break_id    the break this one goes with (a missing invoice's missing payment)
-#}
{% macro rec_select(
    kind, entity, source_system, source_object_type, source_object_id,
    target_system='null', target_object_type='null', target_object_id='null',
    source_amount='null', target_amount='null', currency='null', target_currency='null',
    occurred_at='null', detail="''",
    match_method="'unmatched'", related_break_id='null'
) -%}
    select
        {{ q2c.rec_break_id(kind, source_object_id, target_object_id) }} as break_id,
        cast('{{ kind }}' as {{ dbt.type_string() }}) as break_kind,
        cast(policy_entities.system_of_record as {{ dbt.type_string() }}) as system_of_record,
        cast('{{ entity }}' as {{ dbt.type_string() }}) as entity,
        cast('{{ source_system }}' as {{ dbt.type_string() }}) as source_system,
        cast('{{ source_object_type }}' as {{ dbt.type_string() }}) as source_object_type,
        cast({{ source_object_id }} as {{ dbt.type_string() }}) as source_object_id,
        cast({{ target_system }} as {{ dbt.type_string() }}) as target_system,
        cast({{ target_object_type }} as {{ dbt.type_string() }}) as target_object_type,
        cast({{ target_object_id }} as {{ dbt.type_string() }}) as target_object_id,
        cast({{ source_amount }} as numeric(22, 3)) as source_amount,
        cast({{ target_amount }} as numeric(22, 3)) as target_amount,
        cast(coalesce(cast({{ target_amount }} as numeric(22, 3)), 0)
            - coalesce(cast({{ source_amount }} as numeric(22, 3)), 0) as numeric(22, 3)) as difference_amount,
        cast({{ currency }} as {{ dbt.type_string() }}) as currency,
        cast({{ target_currency }} as {{ dbt.type_string() }}) as target_currency,
        cast({{ occurred_at }} as timestamp) as occurred_at,
        {{ q2c.month_start(occurred_at) }} as period_month,
        {{ q2c.days_between(occurred_at, 'as_of.as_of_at') }} as age_days,
        cast({{ detail }} as {{ dbt.type_string() }}) as detail,
        cast({{ match_method }} as {{ dbt.type_string() }}) as match_method,
        {{ q2c.match_confidence(match_method) }} as confidence,
        cast({{ related_break_id }} as {{ dbt.type_string() }}) as related_break_id
{%- endmacro %}

{#- The break_id of a break (rec_select's), for naming a related break. -#}
{% macro rec_break_id(kind, source_object_id, target_object_id='null') -%}
    '{{ kind }}:' || {{ source_object_id }} || ':' || coalesce(cast({{ target_object_id }} as {{ dbt.type_string() }}), '-')
{%- endmacro %}

{#- The joins every rec_select needs: the entity's System of Record and the as-of time.
    A left join, not a cross join with the filtered seed: an entity missing from
    policy__entities must not drop the model's breaks silently. Its breaks keep coming with a
    null system_of_record, which the not_null tests on every rec_* model and on rec_breaks
    (and tests/assert_rec_entities_have_a_system_of_record.sql) fail on loudly.
    int_warehouse__as_of is an aggregate: always exactly one row. -#}
{% macro rec_from(entity) -%}
    left join {{ ref('policy__entities') }} as policy_entities
        on policy_entities.entity = '{{ entity }}'
    cross join {{ ref('int_warehouse__as_of') }} as as_of
{%- endmacro %}

{#- Payout statuses for the payout rules (Stripe payout.status: pending, in_transit, paid,
    failed, canceled). One rule each, shared by every model that needs it:
      payout_statuses_settled        the payout is owed or has left the billing balance, so
                                     amount = sum of its balance transactions' net must hold
                                     (failed and canceled payouts returned their funds)
      payout_statuses_posted_to_erp  the cash has left billing for the bank (in transit or
                                     arrived), so the ERP must hold its journal (clearing to
                                     bank); a pending payout is not yet submitted to the bank
                                     and is not posted. export_erp_journal_lines posts exactly
                                     these statuses.
    Each returns a SQL list literal: ('paid', 'in_transit'). -#}
{% macro payout_statuses_settled() -%}
    ('pending', 'in_transit', 'paid')
{%- endmacro %}

{% macro payout_statuses_posted_to_erp() -%}
    ('in_transit', 'paid')
{%- endmacro %}
