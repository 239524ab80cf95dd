{#- Decimal amounts that arrive as text (ERP SuiteQL values, Salesforce currency fields) are cast
    to a fixed scale in staging (`json_decimal`, 2 places). A value with more places (a
    three-decimal currency such as kwd in the ERP, or a CRM field with a wider scale) would be
    rounded there without a word. This test fails on any landed value the cast would change,
    naming the table, field and object, so the scale is widened on purpose instead. -#}
{% set fields = [
    ('erp', 'transaction', 'foreigntotal', 18, 2),
    ('erp', 'transactionline', 'foreignamount', 18, 2),
    ('erp', 'transactionline', 'debitforeignamount', 18, 2),
    ('erp', 'transactionline', 'creditforeignamount', 18, 2),
    ('erp', 'previoustransactionlinelink', 'foreignamount', 18, 2),
    ('salesforce', 'account', 'MRR__c', 16, 2),
    ('salesforce', 'account', 'ARR__c', 16, 2),
    ('salesforce', 'opportunity', 'Amount', 18, 2),
] %}
{% for source_name, table, field, precision, scale in fields %}
select
    '{{ source_name }}.{{ table }}' as raw_table,
    '{{ field }}' as field,
    object_id,
    {{ q2c.json_text('payload', field) }} as landed_text
from {{ source(source_name, table) }}
where {{ q2c.json_text('payload', field) }} is not null
    and cast({{ q2c.json_text('payload', field) }} as numeric(38, 10))
        <> cast({{ q2c.json_text('payload', field) }} as numeric({{ precision }}, {{ scale }}))
{% if not loop.last %}union all{% endif %}
{% endfor %}
