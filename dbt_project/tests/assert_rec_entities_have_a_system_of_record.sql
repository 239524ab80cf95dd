-- Every break names an entity of policy__entities and that entity's System of Record.
-- rec_from (macros/reconciliation.sql) left-joins the policy, so a rec_* model whose entity
-- is missing there (or misspelt) keeps its breaks with a null system_of_record instead of
-- losing them; this test names each such entity with the number of breaks it carries.
select
    breaks.reconciliation,
    breaks.entity,
    count(*) as break_count
from {{ ref('rec_breaks') }} as breaks
left join {{ ref('policy__entities') }} as policy_entities
    on breaks.entity = policy_entities.entity
where policy_entities.entity is null
    or breaks.system_of_record is null
    or breaks.system_of_record <> policy_entities.system_of_record
group by breaks.reconciliation, breaks.entity
