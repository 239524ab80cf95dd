-- "Not yet exported" is decided per journal entry: no exported line belongs to an entry that
-- ops.export_ledger already holds, by the entry's external id or by any of its line ids
-- (`q2c:<kind>:<billing id>:<n>`), and every line id is its entry's id plus its number.
-- Rows returned are lines the export would send a second time, or as half an entry.
with

ledger_entries as (

    select external_id from {{ source('ops', 'export_ledger') }}
    union
    select split_part(line_external_id, ':', 1) || ':' || split_part(line_external_id, ':', 2)
        || ':' || split_part(line_external_id, ':', 3)
    from {{ source('ops', 'export_ledger') }}

)

select external_id, line_external_id
from {{ ref('export_erp_journal_lines') }}
where line_external_id
        <> external_id || ':' || cast(line_number as {{ dbt.type_string() }})
    or external_id in (select external_id from ledger_entries)
