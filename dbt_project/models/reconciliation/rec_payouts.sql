{#- Platform payouts (to the company's bank, not connected accounts' payouts) against the
    balance transactions they settled and against ERP cash. Billing is the System of Record.
    Which payouts (macros/reconciliation.sql):
      payout_statuses_settled()        pending, in_transit, paid: the identity must hold
      payout_statuses_posted_to_erp()  in_transit, paid: the ERP must hold the payout journal
                                       (a pending payout has not left for the bank yet; the
                                       journal export posts exactly these statuses)
    The ERP's payout journal is the first (lowest ERP id) non-deleted Journal whose external
    id is the payout id (finance's own) or q2c-payout-<payout id> (exported by the pipeline);
    every column compared comes from that one row.
    Breaks:
      payout_sum_mismatch    the payout amount differs from the sum of the net amounts of the
                             balance transactions in its payout-scoped list (source: payout
                             amount, target: that sum)
      payout_not_posted      no ERP payout journal
      erp_currency_mismatch  the journal is in another currency (source: payout amount,
                             target: journal total)
      erp_amount_mismatch    same currency, the journal total differs from the payout amount
    One row per break. -#}
with

payouts as (

    select * from {{ ref('int_payouts__balance_transactions') }}
    where is_platform_payout
        and payout_status in {{ payout_statuses_settled() }}
        and not is_deleted

),

erp_journals as (

    select
        erp_transaction_id,
        billing_object_id,
        currency,
        foreign_total,
        row_number() over (
            partition by billing_object_id order by erp_transaction_id
        ) as journal_rank
    from {{ ref('int_erp_transactions__enriched') }}
    where not is_deleted
        and transaction_type = 'Journal'
        and (q2c_export_kind is null or q2c_export_kind = 'payout')

),

posted as (

    select
        payouts.*,
        erp_journals.erp_transaction_id as erp_journal_id,
        erp_journals.currency as erp_currency,
        erp_journals.foreign_total as erp_total
    from payouts
    left join erp_journals
        on payouts.payout_id = erp_journals.billing_object_id
        and erp_journals.journal_rank = 1
    where payouts.payout_status in {{ payout_statuses_posted_to_erp() }}

),

sum_mismatches as (

    {{ rec_select(
        kind='payout_sum_mismatch', entity='payout',
        source_system='billing', source_object_type='payout',
        source_object_id='payouts.payout_id',
        target_system="'billing'", target_object_type="'balance_transactions'",
        source_amount=minor_to_major('payouts.payout_amount', 'payouts.currency'),
        target_amount=minor_to_major('payouts.settled_net_amount', 'payouts.currency'),
        currency='payouts.currency', target_currency='payouts.currency',
        occurred_at='payouts.arrival_at',
        detail="cast(payouts.balance_transaction_count as " ~ dbt.type_string() ~ ") || ' settled balance transactions do not sum to the payout'",
        match_method="'explicit_id'"
    ) }}
    from payouts
    {{ rec_from('payout') }}
    where payouts.unexplained_amount <> 0

),

not_posted as (

    {{ rec_select(
        kind='payout_not_posted', entity='payout',
        source_system='billing', source_object_type='payout',
        source_object_id='posted.payout_id',
        target_system="'erp'", target_object_type="'transaction'",
        source_amount=minor_to_major('posted.payout_amount', 'posted.currency'),
        currency='posted.currency',
        occurred_at='posted.arrival_at',
        detail="'payout ' || posted.payout_status || ', not posted to cash in the ERP'",
        match_method="'unmatched'"
    ) }}
    from posted
    {{ rec_from('payout') }}
    where posted.erp_journal_id is null

),

currency_mismatches as (

    {{ rec_select(
        kind='erp_currency_mismatch', entity='payout',
        source_system='billing', source_object_type='payout',
        source_object_id='posted.payout_id',
        target_system="'erp'", target_object_type="'transaction'",
        target_object_id='posted.erp_journal_id',
        source_amount=minor_to_major('posted.payout_amount', 'posted.currency'),
        target_amount='posted.erp_total',
        currency='posted.currency', target_currency='posted.erp_currency',
        occurred_at='posted.arrival_at',
        detail="'payout journal in ' || coalesce(posted.erp_currency, 'no currency') || ', payout in ' || posted.currency",
        match_method="'external_id'"
    ) }}
    from posted
    {{ rec_from('payout') }}
    where posted.erp_journal_id is not null
        and coalesce(posted.erp_currency, '-') <> posted.currency

),

amount_mismatches as (

    {{ rec_select(
        kind='erp_amount_mismatch', entity='payout',
        source_system='billing', source_object_type='payout',
        source_object_id='posted.payout_id',
        target_system="'erp'", target_object_type="'transaction'",
        target_object_id='posted.erp_journal_id',
        source_amount=minor_to_major('posted.payout_amount', 'posted.currency'),
        target_amount='posted.erp_total',
        currency='posted.currency', target_currency='posted.erp_currency',
        occurred_at='posted.arrival_at',
        detail="'payout journal total differs from the payout'",
        match_method="'external_id'"
    ) }}
    from posted
    {{ rec_from('payout') }}
    where posted.erp_journal_id is not null
        and posted.erp_currency = posted.currency
        and coalesce(posted.erp_total, 0) <> {{ minor_to_major('posted.payout_amount', 'posted.currency') }}

),

final as (

    select * from sum_mismatches
    union all
    select * from not_posted
    union all
    select * from currency_mismatches
    union all
    select * from amount_mismatches

)

select * from final
