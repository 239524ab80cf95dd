{#- Quote to cash: Closed Won opportunities matched to billing subscriptions, tier by tier
    (the contract's `mapping.matching.tiers`):
      explicit_id  either side names the other (the deal's link field, the subscription's
                   metadata key: the contract's `mapping.links.subscription_deal`)
      rule         neither names the other: same CRM account (the subscription's customer
                   resolved to its account), same currency, the deal's close date within
                   `date_window_days` of the subscription's start, and the deal's Amount
                   within tolerance of the subscription's annual value (at its start or now;
                   `deal_amount_basis: monthly` compares a twelfth). Only deals and
                   subscriptions no id matched take part. A pair matches when each is the
                   other's only candidate; a deal (or subscription) with two or more
                   candidates is `ambiguous` and matched to none of them.
    Unmatched deals and unmatched subscriptions stay as rows with a null other side.
    One row per (deal, subscription) pair, unmatched side or ambiguous side; `match_id` is its
    key. Deleted deals take part in the id matching (flagged `is_deal_deleted`). -#}
{%- set matching = var('q2c_matching') -%}
with

deals as (

    -- deleted deals still match: a deal deleted with its account did name its subscription
    select *
    from {{ ref('stg_salesforce__opportunities') }}
    where stage = 'closed_won'

),

subscriptions as (

    select * from {{ ref('stg_billing__subscriptions') }}
    where not is_deleted

),

pairs as (

    {% if 'explicit_id' in matching['tiers'] %}
    select
        deals.opportunity_id,
        subscriptions.subscription_id,
        'deal_names_subscription' as match_source
    from deals
    inner join subscriptions
        on deals.billing_subscription_id = subscriptions.subscription_id

    union

    select
        deals.opportunity_id,
        subscriptions.subscription_id,
        'subscription_names_deal' as match_source
    from subscriptions
    inner join deals
        on {{ salesforce_id_key('subscriptions.salesforce_opportunity_id') }} = {{ salesforce_id_key('deals.opportunity_id') }}
    {% else %}
    select
        cast(null as {{ dbt.type_string() }}) as opportunity_id,
        cast(null as {{ dbt.type_string() }}) as subscription_id,
        cast(null as {{ dbt.type_string() }}) as match_source
    where false
    {% endif %}

),

id_matched as (

    select
        opportunity_id,
        subscription_id,
        case when count(*) > 1 then 'both' else min(match_source) end as match_source
    from pairs
    group by opportunity_id, subscription_id

),

-- rule tier: live deals and subscriptions no id matched
rule_candidates as (

    {% if 'rule' in matching['tiers'] %}
    {%- set deal_minor = major_to_minor('deals.amount', 'values_.currency') %}
    {%- set divisor = 12 if matching['deal_amount_basis'] == 'monthly' else 1 %}
    select
        deals.opportunity_id,
        values_.subscription_id,
        abs({{ days_between('values_.start_date', 'deals.close_date') }}) as days_apart
    from deals
    inner join {{ ref('int_customers__resolved') }} as customers
        on deals.account_id = customers.salesforce_account_id
    inner join {{ ref('int_subscriptions__annual_value') }} as values_
        on customers.customer_id = values_.customer_id
    where not deals.is_deleted
        and coalesce(deals.currency, values_.currency) = values_.currency
        and abs({{ days_between('values_.start_date', 'deals.close_date') }})
            <= {{ matching['date_window_days'] }}
        and (
            {{ amounts_within_tolerance('values_.annual_value_at_start_minor / ' ~ divisor, deal_minor) }}
            or {{ amounts_within_tolerance('values_.annual_value_now_minor / ' ~ divisor, deal_minor) }}
        )
        and not exists (select 1 from id_matched where id_matched.opportunity_id = deals.opportunity_id)
        and not exists (
            select 1 from id_matched where id_matched.subscription_id = values_.subscription_id
        )
    {% else %}
    select
        cast(null as {{ dbt.type_string() }}) as opportunity_id,
        cast(null as {{ dbt.type_string() }}) as subscription_id,
        0 as days_apart
    where false
    {% endif %}

),

rule_counted as (

    {{ candidate_counts('rule_candidates', 'opportunity_id', 'subscription_id', 'days_apart') }}

),

rule_matched as (

    select opportunity_id, subscription_id, 'rule' as match_source
    from rule_counted
    where is_one_to_one

),

matched as (

    select * from id_matched
    union all
    select * from rule_matched

),

ambiguous_deals as (

    select distinct
        opportunity_id,
        cast(null as {{ dbt.type_string() }}) as subscription_id,
        'ambiguous' as match_source
    from rule_counted
    where left_candidates > 1

),

ambiguous_subscriptions as (

    select distinct
        cast(null as {{ dbt.type_string() }}) as opportunity_id,
        subscription_id,
        'ambiguous' as match_source
    from rule_counted
    where right_candidates > 1

),

-- a side that is ambiguous, or whose only candidate is ambiguous, is not unmatched: the
-- ambiguous_match break of that candidate covers it
in_ambiguous_candidates as (

    select opportunity_id, subscription_id from rule_counted
    where is_ambiguous_pair

),

unmatched_deals as (

    select
        deals.opportunity_id,
        cast(null as {{ dbt.type_string() }}) as subscription_id,
        'none' as match_source
    from deals
    where not exists (select 1 from matched where matched.opportunity_id = deals.opportunity_id)
        and not exists (
            select 1 from in_ambiguous_candidates as candidates
            where candidates.opportunity_id = deals.opportunity_id
        )

),

unmatched_subscriptions as (

    select
        cast(null as {{ dbt.type_string() }}) as opportunity_id,
        subscriptions.subscription_id,
        'none' as match_source
    from subscriptions
    where not exists (
        select 1 from matched where matched.subscription_id = subscriptions.subscription_id
    )
        and not exists (
            select 1 from in_ambiguous_candidates as candidates
            where candidates.subscription_id = subscriptions.subscription_id
        )

),

unioned as (

    select * from matched
    union all
    select * from ambiguous_deals
    union all
    select * from ambiguous_subscriptions
    union all
    select * from unmatched_deals
    union all
    select * from unmatched_subscriptions

),

-- the candidates of an ambiguous side, for people
candidate_lists as (

    select
        opportunity_id as side_id,
        {{ dbt.listagg('subscription_id', "', '", 'order by subscription_id') }} as candidates
    from rule_counted
    where left_candidates > 1 and distance = left_best
    group by opportunity_id

    union all

    select
        subscription_id,
        {{ dbt.listagg('opportunity_id', "', '", 'order by opportunity_id') }}
    from rule_counted
    where right_candidates > 1 and distance = right_best
    group by subscription_id

),

final as (

    select
        ---------- ids
        coalesce(unioned.opportunity_id, '-') || '|' || coalesce(unioned.subscription_id, '-')
            as match_id,
        unioned.opportunity_id,
        unioned.subscription_id,
        deals.account_id,
        subscriptions.customer_id,

        ---------- match facts
        unioned.match_source,
        case
            when unioned.match_source = 'both' then 'high'
            when unioned.match_source in ('none', 'ambiguous') then 'none'
            else 'medium'
        end as match_confidence,
        case
            when unioned.match_source in ('both', 'deal_names_subscription', 'subscription_names_deal')
                then 'explicit_id'
            when unioned.match_source = 'rule' then 'rule'
            else 'unmatched'
        end as match_method,
        candidate_lists.candidates as ambiguous_candidates,

        ---------- attributes
        deals.billing_subscription_id as deal_named_subscription_id,
        subscriptions.salesforce_opportunity_id as subscription_named_opportunity_id,
        subscriptions.subscription_status,
        coalesce(deals.is_deleted, false) as is_deal_deleted,

        ---------- amounts
        deals.amount as deal_amount,
        deals.currency as deal_currency,

        ---------- dates
        deals.close_date,
        subscriptions.created_at as subscription_created_at

    from unioned
    left join deals
        on unioned.opportunity_id = deals.opportunity_id
    left join subscriptions
        on unioned.subscription_id = subscriptions.subscription_id
    left join candidate_lists
        on unioned.match_source = 'ambiguous'
        and coalesce(unioned.opportunity_id, unioned.subscription_id) = candidate_lists.side_id

)

select * from final
