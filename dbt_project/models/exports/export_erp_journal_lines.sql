{#- Balanced journal lines for the ERP's journal import (sandbox/erp/journal_import.py;
    NetSuite CSV import), for billing activity the ERP does not hold yet and that was not
    exported before (ops.export_ledger). Entries:
      invoice  Dr accounts_receivable total / Cr revenue total - tax / Cr tax_payable tax
      payment  Dr stripe_clearing / Cr accounts_receivable            (succeeded charge)
      fee      Dr fees_expense / Cr stripe_clearing                   (fees a payout settled)
      refund   Dr refunds / Cr stripe_clearing                        (succeeded refund)
      payout   Dr bank / Cr stripe_clearing                           (platform payout)
    Accounts come from the contract's GL mapping (policy__gl_accounts, by role; invoices
    without a subscription credit `services_revenue`, payouts the bank of their currency).
    External ids are stable: `q2c:<kind>:<billing id>` per entry, `...:<line number>` per line;
    the ERP imports idempotently by entry external id. `source_ref` names the billing object
    each line comes from, `billing:<object>:<id>` with Stripe's object name (invoice, charge,
    refund, payout; a fee entry: the payout's balance_transaction, whose fee_details it posts).
    An entry whose accounting period is closed posts to the first open period after it.

    Not yet exported is decided per ENTRY, never per line: an entry with any row in
    ops.export_ledger is left out whole. The ERP posts an entry atomically, so a ledger row
    for one of its lines means the ERP accepted the whole entry (a partial ledger is a crash
    between the ERP's answer and the ledger write); resending it would at best answer
    `already_posted` and at worst be rejected `DUP_RCRD` (its lines can differ by now, e.g. its
    period closed). Leaving out single lines would send an unbalanced entry, which the ERP
    rejects. Currency is the uppercase ISO code the import takes (`USD`); `currency_code`
    keeps the lowercase billing form. One row per journal line. -#}
with

-- the contract's GL mapping: one account per role; banks per currency (`bank_<currency>`)
gl_accounts as (

    select role, acctnumber from {{ ref('policy__gl_accounts') }}

),

posted as (

    select distinct billing_object_id
    from {{ ref('int_erp_transactions__enriched') }}
    where not is_deleted
        and billing_object_id is not null

),

customers as (

    select customer_id, erp_customer_id from {{ ref('int_customers__resolved') }}

),

invoices as (

    select * from {{ ref('stg_billing__invoices') }}
    where invoice_status in ({{ "'" ~ var('q2c_posted_invoice_statuses') | join("', '") ~ "'" }})
        and not is_deleted
        and total_amount > 0
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

-- one row per (entry, line): kind, billing id, line number, the billing object it comes from,
-- date, currency, the account's role in the contract's GL mapping, debit or credit in minor
-- units
lines as (

    select 'invoice' as entry_kind, invoice_id as billing_id, 1 as line_number,
        'invoice' as source_object, invoice_id as source_id,
        cast(finalized_at as date) as trandate, currency, 'accounts_receivable' as account_role,
        total_amount as debit_minor, 0 as credit_minor, customer_id,
        'invoice ' || invoice_id || ' receivable' as memo
    from invoices
    union all
    select 'invoice', invoice_id, 2, 'invoice', invoice_id, cast(finalized_at as date), currency,
        case when subscription_id is null then 'services_revenue' else 'revenue' end,
        0, total_amount - tax_amount, customer_id, 'invoice ' || invoice_id || ' revenue'
    from invoices
    where total_amount - tax_amount > 0
    union all
    select 'invoice', invoice_id, 3, 'invoice', invoice_id, cast(finalized_at as date), currency, 'tax_payable',
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

-- entries the export step sent and the ERP accepted: any ledger row of an entry (by its
-- external id, or by one of its line ids) marks the whole entry as exported
exported_entries as (

    select ledger.external_id
    from {{ source('ops', 'export_ledger') }} as ledger
    union
    select 'q2c:' || lines.entry_kind || ':' || lines.billing_id
    from lines
    inner join {{ source('ops', 'export_ledger') }} as ledger
        on ledger.line_external_id
            = 'q2c:' || lines.entry_kind || ':' || lines.billing_id || ':'
                || cast(lines.line_number as {{ dbt.type_string() }})

),

final as (

    select
        ---------- ids
        'q2c:' || lines.entry_kind || ':' || lines.billing_id as external_id,
        'q2c:' || lines.entry_kind || ':' || lines.billing_id || ':'
            || cast(lines.line_number as {{ dbt.type_string() }}) as line_external_id,
        'billing:' || lines.source_object || ':' || lines.source_id as source_ref,

        ---------- import columns (sandbox/erp/journal_import.py COLUMNS)
        lines.trandate,
        periods.period_name as posting_period,
        upper(lines.currency) as currency,
        gl_accounts.acctnumber as account,
        -- the ERP import takes at most 2 decimal places: exact for 0- and 2-decimal
        -- currencies; assert_export_amounts_fit_the_erp_import fails on a 3-decimal one
        cast({{ minor_to_major('lines.debit_minor', 'lines.currency') }} as numeric(20, 2)) as debit,
        cast({{ minor_to_major('lines.credit_minor', 'lines.currency') }} as numeric(20, 2)) as credit,
        lines.memo,
        case when customers.erp_customer_id is not null then lines.customer_id end as entity,

        ---------- attributes
        lines.entry_kind,
        lines.billing_id,
        lines.line_number,
        lines.account_role,
        lower(lines.currency) as currency_code,

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
    where 'q2c:' || lines.entry_kind || ':' || lines.billing_id not in (
        select exported.external_id from exported_entries as exported
    )

)

select * from final
