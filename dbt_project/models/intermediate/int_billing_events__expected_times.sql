{#- When each billing event should have been created: for an event type and an object, the
    moments of the changes such an event reports, read from the objects themselves (an
    invoice's `status_transitions.paid_at` for `invoice.paid`, the failed charges of a
    payment intent for `payment_intent.payment_failed`, ...). Several candidates where one
    object changes the same way more than once. One row per (event type, object, moment). -#}
with

customers as (select * from {{ ref('stg_billing__customers') }}),
subscriptions as (select * from {{ ref('stg_billing__subscriptions') }}),
invoices as (select * from {{ ref('stg_billing__invoices') }}),
invoice_items as (select * from {{ ref('stg_billing__invoice_items') }}),
payment_intents as (select * from {{ ref('stg_billing__payment_intents') }}),
charges as (select * from {{ ref('stg_billing__charges') }}),
refunds as (select * from {{ ref('stg_billing__refunds') }}),
credit_notes as (select * from {{ ref('stg_billing__credit_notes') }}),
disputes as (select * from {{ ref('stg_billing__disputes') }}),
transfers as (select * from {{ ref('stg_billing__transfers') }}),
payouts as (select * from {{ ref('stg_billing__payouts') }}),

candidates as (

    select 'customer.created' as event_type, customer_id as object_id, created_at as expected_at
    from customers
    union all
    select 'customer.subscription.created', subscription_id, created_at from subscriptions
    union all
    select 'customer.subscription.deleted', subscription_id, ended_at from subscriptions
    union all
    -- a seat change (its proration items are dated at the change) or the first failed
    -- payment that put the subscription in dunning
    select 'customer.subscription.updated', subscription_id, dated_at from invoice_items
    where is_proration and subscription_id is not null
    union all
    select 'customer.subscription.updated', invoices.subscription_id, charges.created_at
    from charges
    inner join invoices
        on charges.invoice_id = invoices.invoice_id
    where charges.charge_status = 'failed'
        and invoices.subscription_id is not null
    union all
    -- a renewal: billing creates the cycle invoice and sends the update for the new period
    select 'customer.subscription.updated', subscription_id, created_at from invoices
    where billing_reason = 'subscription_cycle' and subscription_id is not null
    union all
    select 'invoice.created', invoice_id, created_at from invoices
    union all
    select 'invoice.finalized', invoice_id, finalized_at from invoices
    union all
    select 'invoice.paid', invoice_id, paid_at from invoices
    union all
    select 'invoice.voided', invoice_id, voided_at from invoices
    union all
    select 'invoice.marked_uncollectible', invoice_id, marked_uncollectible_at from invoices
    union all
    select 'invoice.payment_failed', invoice_id, created_at from charges
    where charge_status = 'failed'
    union all
    select 'invoiceitem.created', invoice_item_id, dated_at from invoice_items
    union all
    select 'payment_intent.created', payment_intent_id, created_at from payment_intents
    union all
    select 'payment_intent.succeeded', payment_intent_id, created_at from charges
    where charge_status = 'succeeded'
    union all
    select 'payment_intent.payment_failed', payment_intent_id, created_at from charges
    where charge_status = 'failed'
    union all
    select 'charge.succeeded', charge_id, created_at from charges
    union all
    select 'charge.failed', charge_id, created_at from charges
    union all
    select 'charge.refunded', charge_id, created_at from refunds
    union all
    select 'charge.dispute.created', dispute_id, created_at from disputes
    union all
    select 'refund.created', refund_id, created_at from refunds
    union all
    select 'credit_note.created', credit_note_id, created_at from credit_notes
    union all
    select 'transfer.created', transfer_id, created_at from transfers
    union all
    select 'payout.created', payout_id, created_at from payouts
    union all
    select 'payout.paid', payout_id, arrival_at from payouts

),

-- payment attempts on the retry schedule (days after finalization), for failures whose
-- charge objects are not listed: invoice and payment intent failures, and the subscription
-- update that puts a subscription in dunning
retry_offsets as (

    {% for days in var('q2c_payment_retry_days') %}
    select {{ days }} as retry_day{% if not loop.last %} union all{% endif %}
    {% endfor %}

),

attempts as (

    select
        invoices.invoice_id,
        invoices.subscription_id,
        {{ timestamp_to_epoch('invoices.finalized_at') }} + retry_offsets.retry_day * 86400
            as attempt_epoch
    from invoices
    cross join retry_offsets
    where invoices.finalized_at is not null

),

scheduled as (

    select 'invoice.payment_failed' as event_type, invoice_id as object_id, attempt_epoch
    from attempts
    union all
    select 'customer.subscription.updated', subscription_id, attempt_epoch
    from attempts
    where subscription_id is not null
    union all
    select 'payment_intent.payment_failed', payment_intents.payment_intent_id, attempts.attempt_epoch
    from attempts
    inner join payment_intents
        on attempts.invoice_id = payment_intents.invoice_id

),

all_candidates as (

    select event_type, object_id, expected_at from candidates
    union all
    select event_type, object_id, {{ epoch_to_timestamp('attempt_epoch') }} from scheduled

),

final as (

    select distinct
        event_type,
        object_id,
        expected_at,
        {{ timestamp_to_epoch('expected_at') }} as expected_epoch
    from all_candidates
    where object_id is not null
        and expected_at is not null

)

select * from final
