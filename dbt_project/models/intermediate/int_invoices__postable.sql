{#- The billing invoices the ERP must hold as receivables: finalized (the contract's
    `posted_invoice_statuses`), not deleted, each with the date that picks its accounting
    period (`invoice_posting_date`), its total in minor and major units, and the ERP customer
    its billing customer resolves to. What rec_erp_invoices reconciles and the ERP export
    posts. One row per invoice. -#}
with

invoices as (

    select * from {{ ref('stg_billing__invoices') }}
    where invoice_status in ({{ "'" ~ var('q2c_posted_invoice_statuses') | join("', '") ~ "'" }})
        and not is_deleted

),

customers as (

    select customer_id, erp_customer_id from {{ ref('int_customers__resolved') }}

),

final as (

    select
        ---------- ids
        invoices.invoice_id,
        invoices.customer_id,
        invoices.subscription_id,
        invoices.invoice_number,
        customers.erp_customer_id,

        ---------- attributes
        invoices.invoice_status,
        invoices.currency,

        ---------- amounts (integer minor units of `currency`, and exact major units)
        invoices.total_amount,
        invoices.tax_amount,
        {{ minor_to_major('invoices.total_amount', 'invoices.currency') }} as total_major,

        ---------- dates
        cast(invoices.{{ var('q2c_invoice_posting_date_column') }} as date) as posting_date,
        invoices.finalized_at,
        invoices.created_at

    from invoices
    left join customers
        on invoices.customer_id = customers.customer_id

)

select * from final
