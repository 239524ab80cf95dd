{#- Billing invoices with what was paid, refunded and credited, and their ERP posting.
    One row per billing invoice. Amounts in integer minor units of `currency`. -#}
with

invoices as (

    select * from {{ ref('stg_billing__invoices') }}

),

applied as (

    select * from {{ ref('int_invoices__payments_applied') }}

),

line_totals as (

    select
        invoice_id,
        count(*) as line_count,
        cast(sum(amount) as bigint) as line_amount
    from {{ ref('stg_billing__invoice_lines') }}
    where not is_deleted
    group by invoice_id

),

erp_postings as (

    select
        external_id,
        count(*) as erp_posting_count,
        min(erp_transaction_id) as erp_transaction_id
    from {{ ref('int_erp_transactions__enriched') }}
    where transaction_type = 'CustInvc'
        and not is_deleted
    group by external_id

),

customers as (

    select * from {{ ref('int_customers__resolved') }}

),

final as (

    select
        ---------- ids
        invoices.invoice_id,
        invoices.invoice_number,
        invoices.customer_id,
        customers.salesforce_account_id,
        invoices.subscription_id,
        erp_postings.erp_transaction_id,

        ---------- attributes
        invoices.invoice_status,
        invoices.billing_reason,
        invoices.currency,

        ---------- amounts (integer minor units of `currency`)
        coalesce(line_totals.line_amount, 0) as line_amount,
        invoices.subtotal_amount,
        invoices.discount_amount,
        invoices.tax_amount,
        invoices.total_amount,
        invoices.amount_due,
        invoices.amount_paid,
        invoices.amount_remaining,
        applied.paid_amount as charged_amount,
        applied.refunded_amount,
        applied.credited_amount,
        coalesce(line_totals.line_count, 0) as line_count,

        ---------- dates
        invoices.created_at,
        invoices.finalized_at,
        invoices.paid_at,
        invoices.voided_at,
        invoices.due_at,
        invoices.period_start_at,
        invoices.period_end_at,

        ---------- flags
        invoices.is_paid,
        applied.is_partially_paid,
        coalesce(erp_postings.erp_posting_count, 0) > 0 as is_posted_in_erp,
        invoices.is_deleted

    from invoices
    left join applied
        on invoices.invoice_id = applied.invoice_id
    left join line_totals
        on invoices.invoice_id = line_totals.invoice_id
    left join erp_postings
        on invoices.invoice_id = erp_postings.external_id
    left join customers
        on invoices.customer_id = customers.customer_id

)

select * from final
