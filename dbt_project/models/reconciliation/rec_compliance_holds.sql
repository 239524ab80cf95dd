{#- Compliance holds (policy__compliance_gates): money sent to a connected account whose
    verification blocks payout release, and EU customers whose VAT number is not valid.
    Billing is the System of Record. Breaks:
      payout_to_unverified_account  a payout of a connected account whose verification
                                    holds payouts (requirements past due, payouts disabled)
      invalid_eu_vat                a customer's EU VAT id failed verification
                                    (tax_id.verification.status = unverified)
    One row per break. -#}
with

holds as (

    select * from {{ ref('int_customers__payout_holds') }}
    where is_payout_held

),

payouts as (

    select * from {{ ref('stg_billing__payouts') }}
    where connected_account_id is not null
        and payout_status not in ('failed', 'canceled')
        and not is_deleted

),

customers as (

    select * from {{ ref('stg_billing__customers') }}
    where not is_deleted

),

unverified_payouts as (

    {{ rec_select(
        kind='payout_to_unverified_account', entity='connected_account',
        source_system='billing', source_object_type='account',
        source_object_id='holds.connected_account_id',
        target_system="'billing'", target_object_type="'payout'",
        target_object_id='payouts.payout_id',
        source_amount=minor_to_major('payouts.amount', 'payouts.currency'),
        currency='payouts.currency',
        occurred_at='payouts.created_at',
        detail="'payout released while payouts are held: ' || holds.payout_hold_reason",
        match_method="'explicit_id'"
    ) }}
    from holds
    inner join payouts
        on holds.connected_account_id = payouts.connected_account_id
    {{ rec_from('connected_account') }}

),

invalid_vat as (

    {{ rec_select(
        kind='invalid_eu_vat', entity='customer',
        source_system='billing', source_object_type='customer',
        source_object_id='customers.customer_id',
        currency='customers.currency',
        occurred_at='customers.created_at',
        detail="'VAT id verification: ' || coalesce(customers.tax_id_verification_status, 'none')",
        match_method="'explicit_id'"
    ) }}
    from customers
    {{ rec_from('customer') }}
    where customers.tax_id_type = 'eu_vat'
        and customers.tax_id_verification_status = 'unverified'

),

final as (

    select * from unverified_payouts
    union all
    select * from invalid_vat

)

select * from final
