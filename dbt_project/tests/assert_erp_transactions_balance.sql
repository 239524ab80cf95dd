-- An input check (the ERP's data): it warns, and the reconciliation reports the breaks.
{{ config(severity='warn') }}
-- The ERP's own postings balance: per transaction, debits = credits. Rows returned are
-- unbalanced ERP transactions (a broken extract or a broken ledger).
select
    erp_transaction_id,
    debit_total,
    credit_total
from {{ ref('int_erp_transactions__enriched') }}
where line_count > 0
    and debit_total <> credit_total
