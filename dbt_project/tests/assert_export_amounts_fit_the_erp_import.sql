-- The ERP import takes debit/credit in major units with at most 2 decimal places
-- (sandbox/erp/journal_import.py): every exported amount converts back to exactly the minor
-- units it came from in its currency. A three-decimal currency (kwd, bhd, ...) with a last
-- digit would be rounded here: rows returned are lines whose amount the file cannot carry.
select line_external_id, currency, debit, credit, debit_minor, credit_minor
from {{ ref('export_erp_journal_lines') }}
where {{ major_to_minor('debit', 'currency_code') }} <> debit_minor
    or {{ major_to_minor('credit', 'currency_code') }} <> credit_minor
