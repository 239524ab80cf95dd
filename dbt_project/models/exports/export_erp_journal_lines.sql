{#- Balanced journal lines for the ERP's journal import (sandbox/erp/journal_import.py;
    NetSuite CSV import), for billing activity the ERP does not hold yet and that was not
    exported before (ops.export_ledger). Entries:
      invoice  Dr accounts_receivable total / Cr revenue total - tax / Cr tax_payable tax
      payment  Dr stripe_clearing / Cr accounts_receivable            (succeeded charge)
      fee      Dr fees_expense / Cr stripe_clearing                   (fees a payout settled)
      refund   Dr refunds / Cr stripe_clearing                        (succeeded refund)
      payout   Dr bank / Cr stripe_clearing                           (platform payout)
      payout_reversal  Dr stripe_clearing / Cr bank  (an exported payout that then failed or
                                                      was canceled: the cash came back)
      dispute  Dr chargebacks / Cr stripe_clearing      (funds withdrawn for a dispute)
      dispute_won  Dr stripe_clearing / Cr chargebacks  (funds reinstated: the dispute's
                                                      `dispute_reversal` balance transaction)
      transfer Dr partner_commissions / Cr stripe_clearing (Connect transfer to a partner)
      fx_from  Dr fx_clearing / Cr stripe_clearing  (a charge settled in another currency: the
      fx_to    Dr stripe_clearing / Cr fx_clearing   charge's amount leaves clearing in its own
                                                      currency, the settled amount enters it in
                                                      the settlement currency; Stripe's balance
                                                      transaction currency and exchange_rate vs
                                                      the charge's currency; one currency per
                                                      entry, so two entries per conversion)
      transfer_reversal  Dr stripe_clearing / Cr partner_commissions  (money of a transfer
                                                      coming back: one entry per reversal, so
                                                      a partial reversal posts its own amount
                                                      and a second one its own entry; the
                                                      reversal's `transfer_reversal` balance
                                                      transaction, keyed by the reversal id)
    A lost dispute moves no more money (its withdrawal stays); dispute fees (and their return
    on a won dispute) are in the fee entry of the payout that settled them, like every fee.
    Accounts come from the contract's GL mapping (policy__gl_accounts, by role; invoices
    without a subscription credit `services_revenue`, payouts the bank of their currency).
    External ids are stable: `q2c-<kind>-<billing id>` per entry, `...-<line number>` per line
    (NetSuite external ids take letters, digits, `_` and `-` only; billing ids have no `-`); the
    ERP upserts by entry external id (PUT .../journalEntry/eid:<external id>). `source_ref`
    names the billing object each line comes from, `billing:<object>:<id>` with Stripe's object
    name (invoice, charge, refund, payout; a fee entry: the payout's balance_transaction, whose
    fee_details it posts). The ERP's internal ids of the references the REST record service
    takes (`erp_*_id`: subsidiary of the entry's currency, currency, period, account, customer)
    come from the landed ERP tables; null when the ERP lacks it (the ERP then refuses the
    entry with its own error). Amounts are exact in the currency's own decimals (3 for kwd):
    never rounded here; the erp_export gate refuses what the ERP cannot hold.
    An entry whose accounting period is closed posts to the first open period after it.

    Not yet exported is decided per ENTRY: an entry the ERP accepted (a row of
    ops.export_ledger with status posted or already_posted, written by q2c/exports) is left
    out whole; a rejected entry stays in (q2c/exports resends it only once its content changed).
    Currency is the uppercase ISO code the ERP takes (`USD`); `currency_code` keeps the
    lowercase billing form. One row per journal line. -#}
with

-- the contract's GL mapping: one account per role; banks per currency (`bank_<currency>`)
gl_accounts as (

    select role, acctnumber from {{ ref('policy__gl_accounts') }}

),

-- billing objects the ERP already holds: named by a record's external id, or found by the
-- matching tiers (document number, billing id in the memo, hand-keyed copy, rule match), so an
-- invoice finance keyed by hand is not exported a second time
posted as (

    select billing_object_id
    from {{ ref('int_erp_transactions__enriched') }}
    where not is_deleted
        and billing_object_id is not null
    union
    select billing_object_id
    from {{ ref('int_erp_transactions__matched') }}
    where billing_object_id is not null

),

customers as (

    select customer_id, erp_customer_id from {{ ref('int_customers__resolved') }}

),

invoices as (

    -- the invoices the ERP must hold (one home for "postable": int_invoices__postable)
    select * from {{ ref('int_invoices__postable') }}
    where total_amount > 0
        and invoice_id not in (select billing_object_id from posted)

),

charges as (

    select * from {{ ref('stg_billing__charges') }}
    where charge_status = 'succeeded'
        and amount_captured > 0
        and not is_deleted
        and charge_id not in (select billing_object_id from posted)

),

-- fees are journaled once per platform payout (the fees of what it settled), keyed
-- `fee_<the payout's balance transaction id>` as finance does
fees as (

    select
        payouts.*,
        'fee_' || payouts.balance_transaction_id as fee_id,
        payouts.settled_fee_amount as fee_amount
    from {{ ref('int_payouts__balance_transactions') }} as payouts
    where payouts.is_platform_payout
        and payouts.settled_fee_amount > 0
        and payouts.balance_transaction_id is not null
        and not payouts.is_deleted
        and 'fee_' || payouts.balance_transaction_id not in (select billing_object_id from posted)

),

refunds as (

    select
        refunds.*,
        charges.customer_id
    from {{ ref('stg_billing__refunds') }} as refunds
    left join {{ ref('stg_billing__charges') }} as charges
        on refunds.charge_id = charges.charge_id
    where refunds.refund_status = 'succeeded'
        and refunds.amount > 0
        and not refunds.is_deleted
        and refunds.refund_id not in (select billing_object_id from posted)

),

payouts as (

    select * from {{ ref('stg_billing__payouts') }}
    where payout_status in {{ payout_statuses_posted_to_erp() }}
        and connected_account_id is null
        and amount > 0
        and not is_deleted
        and payout_id not in (select billing_object_id from posted)

),

-- payouts exported earlier (the ERP accepted q2c-payout-<id>) that failed or were canceled
failed_payouts as (

    select payouts.*
    from {{ ref('stg_billing__payouts') }} as payouts
    inner join {{ source('ops', 'export_ledger') }} as ledger
        on ledger.external_id = 'q2c-payout-' || payouts.payout_id
        and ledger.status in ('posted', 'already_posted')
    where payouts.payout_status in ('failed', 'canceled')
        and not payouts.is_deleted

),

-- dispute withdrawals and won-dispute reinstatements: the dispute's balance transactions
dispute_movements as (

    select
        case bts.reporting_category when 'dispute' then 'dispute' else 'dispute_won' end
            as entry_kind,
        bts.source_id as dispute_id,
        bts.balance_transaction_id,
        bts.created_at,
        bts.currency,
        abs(bts.amount) as amount,
        charges.customer_id
    from {{ ref('stg_billing__balance_transactions') }} as bts
    inner join {{ ref('stg_billing__disputes') }} as disputes
        on bts.source_id = disputes.dispute_id
    left join {{ ref('stg_billing__charges') }} as charges
        on disputes.charge_id = charges.charge_id
    where bts.reporting_category in ('dispute', 'dispute_reversal')
        and bts.amount <> 0
        and not bts.is_deleted
        and not disputes.is_deleted
        and not exists (
            select 1 from {{ ref('int_erp_transactions__enriched') }} as erp
            where erp.billing_object_id = bts.source_id
                and erp.q2c_export_kind
                    = case bts.reporting_category when 'dispute' then 'dispute' else 'dispute_won' end
                and not erp.is_deleted
        )

),

transfers as (

    select * from {{ ref('stg_billing__transfers') }}
    where amount > 0
        and not is_deleted
        and transfer_id not in (select billing_object_id from posted)

),

-- charges Stripe settled in another currency: the charge's balance transaction carries the
-- settlement currency and the exchange rate
fx_conversions as (

    select
        charges.charge_id,
        charges.customer_id,
        charges.currency as charge_currency,
        charges.amount_captured,
        bts.balance_transaction_id,
        bts.currency as settlement_currency,
        bts.amount as settled_amount,
        bts.exchange_rate,
        bts.created_at
    from {{ ref('stg_billing__balance_transactions') }} as bts
    inner join {{ ref('stg_billing__charges') }} as charges
        on bts.source_id = charges.charge_id
    where bts.reporting_category = 'charge'
        and bts.currency <> charges.currency
        and bts.amount > 0
        and not bts.is_deleted
        and charges.charge_status = 'succeeded'
        and charges.amount_captured > 0
        and not charges.is_deleted

),

-- each reversal of a Connect transfer, partial or whole: its balance transaction (Stripe's
-- reporting category transfer_reversal; the source is the reversal, trr_...)
transfer_reversals as (

    select
        bts.source_id as reversal_id,
        bts.balance_transaction_id,
        bts.created_at,
        bts.currency,
        abs(bts.amount) as amount
    from {{ ref('stg_billing__balance_transactions') }} as bts
    where bts.reporting_category = 'transfer_reversal'
        and bts.amount <> 0
        and not bts.is_deleted
        and bts.source_id not in (select billing_object_id from posted)

),

-- one row per (entry, line): kind, billing id, line number, the billing object it comes from,
-- date, currency, the account's role in the contract's GL mapping, debit or credit in minor
-- units
lines as (

    select 'invoice' as entry_kind, invoice_id as billing_id, 1 as line_number,
        'invoice' as source_object, invoice_id as source_id,
        posting_date as trandate, currency, 'accounts_receivable' as account_role,
        total_amount as debit_minor, 0 as credit_minor, customer_id,
        'invoice ' || invoice_id || ' receivable' as memo
    from invoices
    union all
    select 'invoice', invoice_id, 2, 'invoice', invoice_id, posting_date, currency,
        case when subscription_id is null then 'services_revenue' else 'revenue' end,
        0, total_amount - tax_amount, customer_id, 'invoice ' || invoice_id || ' revenue'
    from invoices
    where total_amount - tax_amount > 0
    union all
    select 'invoice', invoice_id, 3, 'invoice', invoice_id, posting_date, currency, 'tax_payable',
        0, tax_amount, customer_id, 'invoice ' || invoice_id || ' tax'
    from invoices
    where tax_amount > 0

    union all
    select 'payment', charge_id, 1, 'charge', charge_id, cast(created_at as date), currency, 'stripe_clearing',
        amount_captured, 0, customer_id, 'payment ' || charge_id
    from charges
    union all
    select 'payment', charge_id, 2, 'charge', charge_id, cast(created_at as date), currency, 'accounts_receivable',
        0, amount_captured, customer_id, 'payment ' || charge_id || ' on ' || coalesce(invoice_id, 'account')
    from charges

    union all
    select 'fee', fee_id, 1, 'balance_transaction', balance_transaction_id, cast(created_at as date), currency, 'fees_expense',
        fee_amount, 0, null, 'processing fees settled by ' || payout_id
    from fees
    union all
    select 'fee', fee_id, 2, 'balance_transaction', balance_transaction_id, cast(created_at as date), currency, 'stripe_clearing',
        0, fee_amount, null, 'processing fees settled by ' || payout_id
    from fees

    union all
    select 'refund', refund_id, 1, 'refund', refund_id, cast(created_at as date), currency, 'refunds',
        amount, 0, customer_id, 'refund ' || refund_id || ' of ' || coalesce(charge_id, '?')
    from refunds
    union all
    select 'refund', refund_id, 2, 'refund', refund_id, cast(created_at as date), currency, 'stripe_clearing',
        0, amount, customer_id, 'refund ' || refund_id
    from refunds

    union all
    select 'payout', payout_id, 1, 'payout', payout_id, cast(arrival_at as date), currency, 'bank_' || lower(currency),
        amount, 0, null, 'payout ' || payout_id
    from payouts
    union all
    select 'payout', payout_id, 2, 'payout', payout_id, cast(arrival_at as date), currency, 'stripe_clearing',
        0, amount, null, 'payout ' || payout_id
    from payouts

    union all
    select 'payout_reversal', payout_id, 1, 'payout', payout_id, cast(coalesce(arrival_at, created_at) as date), currency, 'stripe_clearing',
        amount, 0, null, 'payout ' || payout_id || ' ' || payout_status
    from failed_payouts
    union all
    select 'payout_reversal', payout_id, 2, 'payout', payout_id, cast(coalesce(arrival_at, created_at) as date), currency, 'bank_' || lower(currency),
        0, amount, null, 'payout ' || payout_id || ' ' || payout_status
    from failed_payouts

    union all
    select entry_kind, dispute_id, 1, 'dispute', dispute_id, cast(created_at as date), currency,
        case entry_kind when 'dispute' then 'chargebacks' else 'stripe_clearing' end,
        amount, 0, customer_id, entry_kind || ' ' || dispute_id
    from dispute_movements
    union all
    select entry_kind, dispute_id, 2, 'dispute', dispute_id, cast(created_at as date), currency,
        case entry_kind when 'dispute' then 'stripe_clearing' else 'chargebacks' end,
        0, amount, customer_id, entry_kind || ' ' || dispute_id
    from dispute_movements

    union all
    select 'transfer', transfer_id, 1, 'transfer', transfer_id, cast(created_at as date), currency, 'partner_commissions',
        amount, 0, null, 'transfer ' || transfer_id || ' to ' || coalesce(connected_account_id, '?')
    from transfers
    union all
    select 'transfer', transfer_id, 2, 'transfer', transfer_id, cast(created_at as date), currency, 'stripe_clearing',
        0, amount, null, 'transfer ' || transfer_id
    from transfers

    union all
    select 'fx_from', charge_id, 1, 'charge', charge_id, cast(created_at as date), charge_currency, 'fx_clearing',
        amount_captured, 0, customer_id,
        'payment ' || charge_id || ' converted to ' || settlement_currency || ' at ' || cast(exchange_rate as {{ dbt.type_string() }})
    from fx_conversions
    union all
    select 'fx_from', charge_id, 2, 'charge', charge_id, cast(created_at as date), charge_currency, 'stripe_clearing',
        0, amount_captured, customer_id, 'payment ' || charge_id || ' leaves clearing in ' || charge_currency
    from fx_conversions
    union all
    select 'fx_to', charge_id, 1, 'balance_transaction', balance_transaction_id, cast(created_at as date), settlement_currency, 'stripe_clearing',
        settled_amount, 0, customer_id, 'payment ' || charge_id || ' settled in ' || settlement_currency
    from fx_conversions
    union all
    select 'fx_to', charge_id, 2, 'balance_transaction', balance_transaction_id, cast(created_at as date), settlement_currency, 'fx_clearing',
        0, settled_amount, customer_id,
        'payment ' || charge_id || ' converted from ' || charge_currency || ' at ' || cast(exchange_rate as {{ dbt.type_string() }})
    from fx_conversions

    union all
    select 'transfer_reversal', reversal_id, 1, 'balance_transaction', balance_transaction_id, cast(created_at as date), currency, 'stripe_clearing',
        amount, 0, null, 'transfer reversal ' || reversal_id
    from transfer_reversals
    union all
    select 'transfer_reversal', reversal_id, 2, 'balance_transaction', balance_transaction_id, cast(created_at as date), currency, 'partner_commissions',
        0, amount, null, 'transfer reversal ' || reversal_id
    from transfer_reversals

),

periods as (

    select * from {{ ref('stg_erp__accounting_periods') }}
    where not is_quarter
        and not is_year
        and not is_deleted

),

-- the period of the entry's date if open, else the first open period after it
entry_periods as (

    select
        entries.entry_kind,
        entries.billing_id,
        min(periods.start_date) as period_start
    from (select distinct entry_kind, billing_id, trandate from lines) as entries
    inner join periods
        on periods.end_date >= entries.trandate
        and not periods.is_closed
    group by entries.entry_kind, entries.billing_id

),

-- entries the ERP accepted (q2c/exports writes the ledger)
exported_entries as (

    select external_id
    from {{ source('ops', 'export_ledger') }}
    where status in ('posted', 'already_posted')

),

erp_accounts as (

    select account_number, min(erp_account_id) as erp_account_id
    from {{ ref('stg_erp__accounts') }}
    where not is_deleted
    group by account_number

),

erp_currencies as (

    select currency, min(currency_id) as currency_id
    from {{ ref('stg_erp__currencies') }}
    where not is_deleted
    group by currency

),

-- the subsidiary that keeps its books in the entry's currency
erp_subsidiaries as (

    select currency_id, min(subsidiary_id) as subsidiary_id
    from {{ ref('stg_erp__subsidiaries') }}
    where not is_deleted
    group by currency_id

),

final as (

    select
        ---------- ids
        'q2c-' || lines.entry_kind || '-' || lines.billing_id as external_id,
        'q2c-' || lines.entry_kind || '-' || lines.billing_id || '-'
            || cast(lines.line_number as {{ dbt.type_string() }}) as line_external_id,
        'billing:' || lines.source_object || ':' || lines.source_id as source_ref,

        ---------- import columns (sandbox/erp/journal_import.py COLUMNS)
        lines.trandate,
        periods.period_name as posting_period,
        upper(lines.currency) as currency,
        gl_accounts.acctnumber as account,
        -- exact in the currency's decimals (3 for kwd); the gate refuses what the ERP cannot hold
        {{ minor_to_major('lines.debit_minor', 'lines.currency') }} as debit,
        {{ minor_to_major('lines.credit_minor', 'lines.currency') }} as credit,
        lines.memo,
        case when customers.erp_customer_id is not null then lines.customer_id end as entity,

        ---------- attributes
        lines.entry_kind,
        lines.billing_id,
        lines.line_number,
        lines.account_role,
        lower(lines.currency) as currency_code,
        {{ currency_decimals('lines.currency') }} as currency_decimals,

        ---------- the ERP's internal ids of the references (REST record service)
        erp_subsidiaries.subsidiary_id as erp_subsidiary_id,
        erp_currencies.currency_id as erp_currency_id,
        periods.accounting_period_id as erp_period_id,
        erp_accounts.erp_account_id as erp_account_id,
        customers.erp_customer_id as erp_entity_id,

        ---------- amounts (integer minor units)
        lines.debit_minor,
        lines.credit_minor

    from lines
    left join entry_periods
        on lines.entry_kind = entry_periods.entry_kind
        and lines.billing_id = entry_periods.billing_id
    left join periods
        on entry_periods.period_start = periods.start_date
    left join customers
        on lines.customer_id = customers.customer_id
    left join gl_accounts
        on lines.account_role = gl_accounts.role
    left join erp_accounts
        on gl_accounts.acctnumber = erp_accounts.account_number
    left join erp_currencies
        on lower(lines.currency) = erp_currencies.currency
    left join erp_subsidiaries
        on erp_currencies.currency_id = erp_subsidiaries.currency_id
    where 'q2c-' || lines.entry_kind || '-' || lines.billing_id not in (
        select exported.external_id from exported_entries as exported
    )

)

select * from final
