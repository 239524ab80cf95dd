-- Accounting identity of every billing invoice: total = sum of its lines + tax - discounts,
-- and subtotal = sum of its lines. Rows returned are invoices that break it.
with

lines as (

    select invoice_id, sum(amount) as line_amount
    from {{ ref('stg_billing__invoice_lines') }}
    where not is_deleted
    group by invoice_id

)

select
    invoices.invoice_id,
    invoices.total_amount,
    invoices.subtotal_amount,
    lines.line_amount,
    invoices.tax_amount,
    invoices.discount_amount
from {{ ref('stg_billing__invoices') }} as invoices
inner join lines
    on invoices.invoice_id = lines.invoice_id
where not invoices.is_deleted
    and (
        invoices.total_amount <> lines.line_amount + invoices.tax_amount - invoices.discount_amount
        or invoices.subtotal_amount <> lines.line_amount
    )
