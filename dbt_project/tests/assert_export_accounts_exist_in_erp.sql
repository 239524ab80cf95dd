-- An input check (the ERP's chart) that concerns only the export: it warns, and the
-- erp_export gate (a Dagster check on export_erp_journal_lines) refuses while it fails.
{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'export_erp_journal_lines'}}}) }}
-- Every account the journal export posts to exists in the ERP's chart of accounts; otherwise
-- the ERP rejects the entry (INVALID_KEY_OR_REF). Rows returned are GL roles whose account
-- number the ERP does not have (a stale policy__gl_accounts), or one row when the landed
-- ERP chart of accounts is empty: then nothing could be checked, and exporting against an
-- unknown chart must not pass as green.
with

erp_accounts as (

    select account_number from {{ ref('stg_erp__accounts') }}
    where not is_deleted

)

select
    gl.role,
    gl.acctnumber,
    'account number not in the ERP chart of accounts' as problem
from {{ ref('policy__gl_accounts') }} as gl
where not exists (
    select 1 from erp_accounts
    where erp_accounts.account_number = cast(gl.acctnumber as {{ dbt.type_string() }})
)

union all

select
    cast(null as {{ dbt.type_string() }}),
    cast(null as {{ dbt.type_string() }}),
    'the ERP chart of accounts is empty (not landed?)'
where not exists (select 1 from erp_accounts)
