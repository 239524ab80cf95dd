-- human_edit_wins on the Case flag: no row proposes a write while a person's edit is kept, a
-- kept edit is always a person's value that differs from billing's, and billing's value then
-- equals what the pipeline last pushed (only a change of the dunning state writes again).
-- Rows returned are case fields that break the contract's winner rule.
select case_field_id, winner, proposed_value, crm_value, last_pushed_value
from {{ ref('sync_salesforce_case_fields') }}
where (is_human_edit_kept and is_changed)
    or (is_human_edit_kept and winner <> 'human_edit_wins')
    or (is_human_edit_kept and not is_crm_value_by_person)
    or (is_human_edit_kept and proposed_value = crm_value)
    or (is_human_edit_kept and proposed_value <> coalesce(last_pushed_value, ''))
    or (is_changed and proposed_value = crm_value)
