{#- The moment the warehouse's data describes: the latest landing time across the sources
    the reconciliation reads (or the `q2c_as_of` var, an ISO timestamp, for a fixed replay).
    Ages of breaks are measured to it. One row. -#}
with

landed as (

    select max(extracted_at) as extracted_at from {{ ref('stg_billing__invoices') }}
    union all
    select max(extracted_at) from {{ ref('stg_salesforce__accounts') }}
    union all
    select max(extracted_at) from {{ ref('stg_erp__transactions') }}

),

final as (

    select
        {% if var('q2c_as_of', none) %}
        cast('{{ var("q2c_as_of") }}' as timestamp) as as_of_at
        {% else %}
        {{ timestamptz_to_utc('max(extracted_at)') }} as as_of_at
        {% endif %}
    from landed

)

select * from final
