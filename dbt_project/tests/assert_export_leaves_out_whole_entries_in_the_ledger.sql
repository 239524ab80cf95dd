-- "Not yet exported" is decided per journal entry: no exported line belongs to an entry that
-- ops.export_ledger holds as accepted by the ERP (posted, already_posted), and every line id
-- is its entry's id plus its number (`q2c-<kind>-<billing id>-<n>`).
-- Rows returned are lines the export would send a second time, or as half an entry.
select external_id, line_external_id
from {{ ref('export_erp_journal_lines') }}
where line_external_id
        <> external_id || '-' || cast(line_number as {{ dbt.type_string() }})
    or external_id in (
        select external_id from {{ source('ops', 'export_ledger') }}
        where status in ('posted', 'already_posted')
    )
