-- Accounting identity of every platform payout, computed here from staging on its own (not
-- from int_payouts__balance_transactions, which rec_payouts reads): amount = sum of the net
-- amounts of the balance transactions in the payout's payout-scoped list (the payout's own
-- `payout` line left out). The set of payouts where it does not hold must be exactly the set
-- of `payout_sum_mismatch` breaks, each with the payout amount as source_amount and the sum
-- as target_amount. Rows returned: a mismatch without its break (`missing_break`), a break
-- where the identity holds (`break_without_mismatch`), or a break with other amounts
-- (`wrong_amounts`). The unit test payout_identity_mismatch_once_with_amounts
-- (models/reconciliation/_reconciliation__unit_tests.yml) checks rec_payouts on fixed rows.
with

payouts as (

    select payout_id, amount, currency
    from {{ ref('stg_billing__payouts') }}
    where connected_account_id is null
        and payout_status in {{ payout_statuses_settled() }}
        and not is_deleted

),

listed as (

    select payout_id, sum(net_amount) as net_amount
    from {{ ref('stg_billing__payout_balance_transactions') }}
    where balance_transaction_type <> 'payout'
        and not is_deleted
    group by payout_id

),

mismatches as (

    select
        payouts.payout_id,
        payouts.amount as payout_amount,
        coalesce(listed.net_amount, 0) as listed_net_amount
    from payouts
    left join listed
        on payouts.payout_id = listed.payout_id
    where payouts.amount <> coalesce(listed.net_amount, 0)

),

breaks as (

    select
        source_object_id as payout_id,
        {{ major_to_minor('source_amount', 'currency') }} as source_minor,
        {{ major_to_minor('target_amount', 'currency') }} as target_minor
    from {{ ref('rec_payouts') }}
    where break_kind = 'payout_sum_mismatch'

),

final as (

    select
        coalesce(mismatches.payout_id, breaks.payout_id) as payout_id,
        case
            when breaks.payout_id is null then 'missing_break'
            when mismatches.payout_id is null then 'break_without_mismatch'
            else 'wrong_amounts'
        end as problem,
        mismatches.payout_amount,
        mismatches.listed_net_amount,
        breaks.source_minor,
        breaks.target_minor
    from mismatches
    full outer join breaks
        on mismatches.payout_id = breaks.payout_id
    where breaks.payout_id is null
        or mismatches.payout_id is null
        or breaks.source_minor <> mismatches.payout_amount
        or breaks.target_minor <> mismatches.listed_net_amount

)

select * from final
