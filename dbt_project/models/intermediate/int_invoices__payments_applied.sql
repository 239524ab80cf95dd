{#- Invoice-to-payment application: what was paid on each invoice (succeeded charges, partial
    payments included), refunded against those charges, and credited by credit notes, and the
    balance left. One row per billing invoice; amounts in integer minor units. -#}
with

invoices as (

    select * from {{ ref('stg_billing__invoices') }}

),

charges as (

    select
        invoice_id,
        count(*) as payment_count,
        cast(sum(amount_captured) as bigint) as paid_amount,
        cast(sum(amount_refunded) as bigint) as refunded_amount,
        max(created_at) as last_paid_at
    from {{ ref('stg_billing__charges') }}
    where charge_status = 'succeeded'
        and invoice_id is not null
    group by invoice_id

),

credit_notes as (

    select
        invoice_id,
        count(*) as credit_note_count,
        cast(sum(total_amount) as bigint) as credited_amount
    from {{ ref('stg_billing__credit_notes') }}
    where credit_note_status <> 'void'
    group by invoice_id

),

final as (

    select
        ---------- ids
        invoices.invoice_id,
        invoices.customer_id,
        invoices.subscription_id,

        ---------- attributes
        invoices.invoice_status,
        invoices.currency,

        ---------- amounts (integer minor units of `currency`)
        invoices.total_amount,
        coalesce(charges.paid_amount, 0) as paid_amount,
        coalesce(charges.refunded_amount, 0) as refunded_amount,
        coalesce(credit_notes.credited_amount, 0) as credited_amount,
        invoices.total_amount
            - coalesce(charges.paid_amount, 0)
            - coalesce(credit_notes.credited_amount, 0) as open_balance_amount,
        coalesce(charges.payment_count, 0) as payment_count,
        coalesce(credit_notes.credit_note_count, 0) as credit_note_count,

        ---------- dates
        charges.last_paid_at,

        ---------- flags
        coalesce(charges.payment_count, 0) > 1 as is_paid_in_parts,
        -- some of it paid and some still open: credit notes settle their part too
        coalesce(charges.paid_amount, 0) > 0
            and coalesce(charges.paid_amount, 0) + coalesce(credit_notes.credited_amount, 0)
                < invoices.total_amount as is_partially_paid

    from invoices
    left join charges
        on invoices.invoice_id = charges.invoice_id
    left join credit_notes
        on invoices.invoice_id = credit_notes.invoice_id

)

select * from final
