{#- What each open support case should say in the write set's Case fields
    (support_case_priority): Billing_Priority_Flag__c is true when the case is about its
    account's dunning (fct_cases.is_about_dunning). Only fields in policy__write_set (sobject
    Case), with the billing reference that decides and the case's current value.

    The flag's winner rule is the contract's (policy__write_set.winner), applied as
    q2c.policy.conflicts.decide does: under `human_edit_wins` a person's edit in the support
    tool stands, and billing's value is kept beside it for traceability, until billing's value
    changes (the case's dunning state changed since the pipeline last wrote the flag); then
    the pipeline writes again. So:
      - last_pushed_value: the flag in the case's latest landed version written by the
        integration user (the pipeline's last write as the CRM recorded it; null: never);
      - is_crm_value_by_person: the case was last changed by a person (LastModifiedById is not
        the integration user) and the flag differs from the last push, or was never pushed;
      - is_human_edit_kept: the person's value wins: it differs from billing's, was set by a
        person, and billing's value is the one last pushed (the dunning state is unchanged);
      - is_changed: the write-back should write proposed_value (it differs from the CRM and
        the winner rule lets billing write; `flag_for_review` never writes automatically).
    The history comes from the landed versions of raw.salesforce__case (staging keeps only
    the latest), so a person's edit and a revert between two extractions are not seen, and a
    dunning episode that ends and starts again while the flag was never rewritten looks
    unchanged: the write-back's own audit trail is the final word (decide's last_pushed).
    One row per (case, field). -#}
with

cases as (

    select * from {{ ref('fct_cases') }}
    where not is_closed
        and not is_deleted

),

write_set as (

    select * from {{ ref('policy__write_set') }}
    where sobject = 'Case'

),

integration_users as (

    select user_id from {{ ref('stg_salesforce__users') }}
    where is_integration_user

),

-- every landed version of each case, newest first (the order of latest_version), with who
-- changed it and the flag it held then
case_versions as (

    select
        object_id as case_id,
        {{ json_text('payload', 'LastModifiedById') }} as last_modified_by_id,
        case
            when coalesce({{ json_bool('payload', crm_field('case.billing_priority_flag')) }}, false)
                then 'true'
            else 'false'
        end as flag_value,
        row_number() over (
            partition by object_id
            order by extracted_at desc, provider_ref desc nulls last, payload_hash desc
        ) as version_rank
    from {{ source('salesforce', 'case') }}

),

last_change as (

    select
        case_versions.case_id,
        case_versions.last_modified_by_id,
        integration_users.user_id is null as is_by_person
    from case_versions
    left join integration_users
        on case_versions.last_modified_by_id = integration_users.user_id
    where case_versions.version_rank = 1

),

-- the pipeline's last write of each case: its newest version by the integration user
last_push as (

    select case_id, flag_value as last_pushed_value
    from (
        select
            case_versions.case_id,
            case_versions.flag_value,
            row_number() over (
                partition by case_versions.case_id order by case_versions.version_rank
            ) as push_rank
        from case_versions
        inner join integration_users
            on case_versions.last_modified_by_id = integration_users.user_id
    ) as pushes
    where push_rank = 1

),

proposed as (

    select
        cases.case_id,
        cases.account_id,
        '{{ crm_field("case.billing_priority_flag") }}' as field_api_name,
        case when cases.is_about_dunning then 'true' else 'false' end as proposed_value,
        case when cases.has_billing_priority_flag then 'true' else 'false' end as crm_value,
        last_push.last_pushed_value,
        coalesce(last_change.is_by_person, false) as is_last_change_by_person,
        coalesce(
            'billing:customer:' || cases.billing_customer_id || ':subscriptions',
            'crm:Account:' || cases.account_id
        ) as source_ref
    from cases
    left join last_change
        on cases.case_id = last_change.case_id
    left join last_push
        on cases.case_id = last_push.case_id

),

decided as (

    select
        proposed.*,
        write_set.match_on,
        write_set.field_id,
        write_set.winner,
        proposed.is_last_change_by_person
            and (
                proposed.last_pushed_value is null
                or proposed.crm_value <> proposed.last_pushed_value
            ) as is_crm_value_by_person
    from proposed
    inner join write_set
        on proposed.field_api_name = write_set.field_api_name

),

final as (

    select
        ---------- ids
        decided.case_id || '|' || decided.field_api_name as case_field_id,
        decided.case_id,
        decided.account_id,
        decided.match_on,

        ---------- the field and its values
        decided.field_api_name,
        decided.field_id,
        decided.winner,
        decided.proposed_value,
        decided.crm_value,
        decided.last_pushed_value,
        decided.source_ref,

        ---------- flags
        decided.is_crm_value_by_person,
        decided.winner = 'human_edit_wins'
            and decided.proposed_value <> decided.crm_value
            and decided.is_crm_value_by_person
            and decided.proposed_value = coalesce(decided.last_pushed_value, '')
            as is_human_edit_kept,
        decided.proposed_value <> decided.crm_value
            and decided.winner <> 'flag_for_review'
            and not (
                decided.winner = 'human_edit_wins'
                and decided.is_crm_value_by_person
                and decided.proposed_value = coalesce(decided.last_pushed_value, '')
            ) as is_changed

    from decided

)

select * from final
