-- The CRM payloads carry only fields of the contract's write set. Rows returned are fields
-- outside it.
select field_api_name, 'Account' as sobject
from {{ ref('sync_salesforce_account_fields') }}
where field_api_name not in (
    select field_api_name from {{ ref('policy__write_set') }} where sobject = 'Account'
)
union all
select field_api_name, 'Case'
from {{ ref('sync_salesforce_case_fields') }}
where field_api_name not in (
    select field_api_name from {{ ref('policy__write_set') }} where sobject = 'Case'
)
