-- Every account the journal export posts to exists in the ERP's chart of accounts; otherwise
-- the ERP rejects the entry (INVALID_KEY_OR_REF). Rows returned are GL roles whose account
-- number the ERP does not have (a stale policy__gl_accounts).
{{ config(severity='warn') }}
select
    gl.role,
    gl.acctnumber
from {{ ref('policy__gl_accounts') }} as gl
where gl.acctnumber not in (select account_number from {{ ref('stg_erp__accounts') }})
    and exists (select 1 from {{ ref('stg_erp__accounts') }})
