-- An input check (billing's data): it warns, and the reconciliation reports the breaks.
{{ config(severity='warn') }}
-- Accounting identity of every billing invoice: total = sum of its lines + tax - discounts,
-- and subtotal = sum of its lines. An invoice without any line counts its lines as 0 (left
-- join), so a total with no lines behind it is a break, not skipped. Rows returned are
-- invoices that break it.
with

lines as (

    select invoice_id, sum(amount) as line_amount
    from {{ ref('stg_billing__invoice_lines') }}
    where not is_deleted
    group by invoice_id

),

checked as (

    select
        invoices.invoice_id,
        invoices.total_amount,
        invoices.subtotal_amount,
        coalesce(lines.line_amount, 0) as line_amount,
        coalesce(invoices.tax_amount, 0) as tax_amount,
        coalesce(invoices.discount_amount, 0) as discount_amount
    from {{ ref('stg_billing__invoices') }} as invoices
    left join lines
        on invoices.invoice_id = lines.invoice_id
    where not invoices.is_deleted

)

select *
from checked
where total_amount is distinct from line_amount + tax_amount - discount_amount
    or subtotal_amount is distinct from line_amount
