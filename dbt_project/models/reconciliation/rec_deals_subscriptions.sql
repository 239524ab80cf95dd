{#- Closed Won deals against billing subscriptions (quote to cash). The CRM owns the deal,
    billing the subscription. Breaks:
      deal_without_subscription   a Closed Won deal no subscription matches
      subscription_without_deal   a subscription no Closed Won deal matches
      ambiguous_match             a deal (or subscription) no id links that the rule matches
                                  to two or more of the other side: none is picked
    Matching tiers: int_opportunities__matched_to_subscriptions.
    One row per break. -#}
with

matches as (

    select * from {{ ref('int_opportunities__matched_to_subscriptions') }}

),

deals as (

    select * from {{ ref('stg_salesforce__opportunities') }}

),

subscriptions as (

    select * from {{ ref('stg_billing__subscriptions') }}

),

deals_without as (

    {{ rec_select(
        kind='deal_without_subscription', entity='opportunity',
        source_system='crm', source_object_type='Opportunity',
        source_object_id='matches.opportunity_id',
        target_system="'billing'", target_object_type="'subscription'",
        target_object_id='matches.deal_named_subscription_id',
        source_amount='deals.amount',
        currency='deals.currency',
        occurred_at='deals.close_date',
        detail="'Closed Won deal with no billing subscription'",
        match_method="'unmatched'"
    ) }}
    from matches
    inner join deals
        on matches.opportunity_id = deals.opportunity_id
    {{ rec_from('opportunity') }}
    where matches.match_source = 'none'
        and matches.subscription_id is null
        and not matches.is_deal_deleted

),

subscriptions_without as (

    {{ rec_select(
        kind='subscription_without_deal', entity='subscription',
        source_system='billing', source_object_type='subscription',
        source_object_id='matches.subscription_id',
        target_system="'crm'", target_object_type="'Opportunity'",
        target_object_id='matches.subscription_named_opportunity_id',
        currency='subscriptions.currency',
        occurred_at='subscriptions.created_at',
        detail="'subscription with no Closed Won deal'",
        match_method="'unmatched'"
    ) }}
    from matches
    inner join subscriptions
        on matches.subscription_id = subscriptions.subscription_id
    {{ rec_from('subscription') }}
    where matches.match_source = 'none'
        and matches.opportunity_id is null

),

ambiguous_deals as (

    {{ rec_select(
        kind='ambiguous_match', entity='opportunity',
        source_system='crm', source_object_type='Opportunity',
        source_object_id='matches.opportunity_id',
        target_system="'billing'", target_object_type="'subscription'",
        source_amount='deals.amount',
        currency='deals.currency',
        occurred_at='deals.close_date',
        detail="'Closed Won deal matches several subscriptions by account, amount and date: ' || matches.ambiguous_candidates",
        match_method="'rule'"
    ) }}
    from matches
    inner join deals
        on matches.opportunity_id = deals.opportunity_id
    {{ rec_from('opportunity') }}
    where matches.match_source = 'ambiguous'

),

ambiguous_subscriptions as (

    {{ rec_select(
        kind='ambiguous_match', entity='subscription',
        source_system='billing', source_object_type='subscription',
        source_object_id='matches.subscription_id',
        target_system="'crm'", target_object_type="'Opportunity'",
        currency='subscriptions.currency',
        occurred_at='subscriptions.created_at',
        detail="'subscription matches several Closed Won deals by account, amount and date: ' || matches.ambiguous_candidates",
        match_method="'rule'"
    ) }}
    from matches
    inner join subscriptions
        on matches.subscription_id = subscriptions.subscription_id
    {{ rec_from('subscription') }}
    where matches.match_source = 'ambiguous'

),

final as (

    select * from deals_without
    union all
    select * from subscriptions_without
    union all
    select * from ambiguous_deals
    union all
    select * from ambiguous_subscriptions

)

select * from final
