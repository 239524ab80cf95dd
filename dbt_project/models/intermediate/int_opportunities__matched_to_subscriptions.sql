{#- Quote to cash: Closed Won opportunities matched to billing subscriptions. A pair matches
    when either side names the other (`Billing_Subscription_Id__c` on the deal,
    `metadata.salesforce_opportunity_id` on the subscription). Unmatched deals and unmatched
    subscriptions stay as rows with a null other side. One row per (deal, subscription) pair
    or unmatched side; `match_id` is its key. Deleted deals take part in the matching
    (flagged `is_deal_deleted`). -#}
with

deals as (

    -- deleted deals still match: a deal deleted with its account did name its subscription
    select *
    from {{ ref('stg_salesforce__opportunities') }}
    where stage_name = 'Closed Won'

),

subscriptions as (

    select * from {{ ref('stg_billing__subscriptions') }}
    where not is_deleted

),

pairs as (

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
        on subscriptions.salesforce_opportunity_id = deals.opportunity_id

),

matched as (

    select
        opportunity_id,
        subscription_id,
        case when count(*) > 1 then 'both' else min(match_source) end as match_source
    from pairs
    group by opportunity_id, subscription_id

),

unmatched_deals as (

    select
        deals.opportunity_id,
        cast(null as {{ dbt.type_string() }}) as subscription_id,
        'none' as match_source
    from deals
    where not exists (select 1 from matched where matched.opportunity_id = deals.opportunity_id)

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

),

unioned as (

    select * from matched
    union all
    select * from unmatched_deals
    union all
    select * from unmatched_subscriptions

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
            when unioned.match_source = 'none' then 'none'
            else 'medium'
        end as match_confidence,

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

)

select * from final
