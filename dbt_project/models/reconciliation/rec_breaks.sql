{#- Every open break of every reconciliation, in one table (the `rec_*` models unioned).
    One row per break. -#}
{%- set rec_models = [
    'rec_erp_invoices', 'rec_erp_payments', 'rec_erp_refunds', 'rec_payouts',
    'rec_crm_accounts', 'rec_deals_subscriptions', 'rec_compliance_holds',
    'rec_cases_dunning', 'rec_billing_events', 'rec_data_quality'
] %}
with

unioned as (

    {% for model in rec_models %}
    select
        breaks.*,
        '{{ model }}' as reconciliation
    from {{ ref(model) }} as breaks
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from unioned
