{#- Platform payouts (to the company's bank, not connected accounts' payouts) against the
    balance transactions they settled and against ERP cash. Billing is the System of Record.
    Breaks:
      payout_sum_mismatch  the payout amount differs from the sum of the net amounts of the
                           balance transactions in its payout-scoped list
      payout_not_posted    a payout (paid or in transit) with no ERP journal (clearing to
                           bank)
    One row per break. -#}
with

payouts as (

    select * from {{ ref('int_payouts__balance_transactions') }}
    where is_platform_payout
        and payout_status in ('paid', 'in_transit', 'pending')
        and not is_deleted

),

erp_journals as (

    select billing_object_id, min(erp_transaction_id) as erp_transaction_id
    from {{ ref('int_erp_transactions__enriched') }}
    where not is_deleted
        and (
            transaction_type = 'Journal'
            and (q2c_export_kind is null or q2c_export_kind = 'payout')
        )
    group by billing_object_id

),

sum_mismatches as (

    {{ rec_select(
        kind='payout_sum_mismatch', entity='payout',
        source_system='billing', source_object_type='payout',
        source_object_id='payouts.payout_id',
        target_system="'billing'", target_object_type="'balance_transactions'",
        source_amount=minor_to_major('payouts.payout_amount'),
        target_amount=minor_to_major('payouts.settled_net_amount'),
        currency='payouts.currency', target_currency='payouts.currency',
        occurred_at='payouts.arrival_at',
        detail="cast(payouts.balance_transaction_count as " ~ dbt.type_string() ~ ") || ' settled balance transactions do not sum to the payout'"
    ) }}
    from payouts
    {{ rec_from('payout') }}
    where payouts.unexplained_amount <> 0

),

not_posted as (

    {{ rec_select(
        kind='payout_not_posted', entity='payout',
        source_system='billing', source_object_type='payout',
        source_object_id='payouts.payout_id',
        target_system="'erp'", target_object_type="'transaction'",
        source_amount=minor_to_major('payouts.payout_amount'),
        currency='payouts.currency',
        occurred_at='payouts.arrival_at',
        detail="'payout not posted to cash in the ERP'"
    ) }}
    from payouts
    {{ rec_from('payout') }}
    where not exists (
        select 1 from erp_journals where erp_journals.billing_object_id = payouts.payout_id
    )

),

final as (

    select * from sum_mismatches
    union all
    select * from not_posted

)

select * from final
