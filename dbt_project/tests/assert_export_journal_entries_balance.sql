-- Every exported journal entry balances: debits = credits, each line exactly one side > 0,
-- one date and one currency per entry. Rows returned are broken entries.
select
    external_id,
    sum(debit) as debits,
    sum(credit) as credits,
    count(distinct trandate) as dates,
    count(distinct currency) as currencies,
    sum(case when (debit > 0) = (credit > 0) then 1 else 0 end) as lines_not_one_sided
from {{ ref('export_erp_journal_lines') }}
group by external_id
having sum(debit) <> sum(credit)
    or count(distinct trandate) <> 1
    or count(distinct currency) <> 1
    or sum(case when (debit > 0) = (credit > 0) then 1 else 0 end) > 0
