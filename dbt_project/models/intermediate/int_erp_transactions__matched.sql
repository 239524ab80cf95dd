{#- Every live ERP transaction with the billing object it posts, found tier by tier (the
    contract's `mapping.matching`):
      external_id  the record names it: its external id (or the custom field the contract
                   names, q2c's own `<prefix>-<kind>-<id>` journals included), a billing id
                   typed into its memo, or (invoices) its document number = the invoice number
      content      a hand-keyed copy: no id of its own, but the same type, customer, currency
                   and amount within `duplicate_window_days` (or the same document number) as
                   another posting: it posts that one's billing object again
      rule         no id and no twin: the one billing object (invoice, or payment = charge) of
                   its customer, in its currency, with its amount within tolerance and its
                   date within `date_window_days`, that no other posting names; two or more
                   candidates (either way round) leave it `ambiguous`, matched to none
    `posting_kind`: invoice (CustInvc, q2c invoice journals), payment (CustPymt, q2c payment
    journals), null for the rest (credit notes, refunds, fees, payouts keep their external id).
    ERP ids are compared as text-safe integers (NetSuite internal ids). One row per live ERP
    transaction. -#}
{%- set matching = var('q2c_matching') -%}
with

erp as (

    select
        enriched.*,
        case
            when enriched.transaction_type = 'CustInvc'
                or (enriched.transaction_type = 'Journal' and enriched.q2c_export_kind = 'invoice')
                then 'invoice'
            when enriched.transaction_type = 'CustPymt'
                or (enriched.transaction_type = 'Journal' and enriched.q2c_export_kind = 'payment')
                then 'payment'
        end as posting_kind
    from {{ ref('int_erp_transactions__enriched') }} as enriched
    where not enriched.is_deleted

),

invoices as (

    select * from {{ ref('int_invoices__postable') }}

),

-- the billing objects a posting without an id may be matched to by rule
billing_objects as (

    select
        'invoice' as posting_kind,
        invoice_id as billing_object_id,
        customer_id,
        currency,
        total_amount as amount_minor,
        posting_date as object_date
    from invoices

    union all

    select
        'payment',
        charge_id,
        customer_id,
        currency,
        amount_captured,
        cast(created_at as date)
    from {{ ref('stg_billing__charges') }}
    where charge_status = 'succeeded'
        and invoice_id is not null
        and not is_deleted

),

-- tier external_id: what the record itself names
identified as (

    select
        erp.*,
        coalesce(
            erp.billing_object_id,
            {% if 'external_id' in matching['tiers'] -%}
            erp.typed_billing_id,
            by_number.invoice_id
            {%- else -%}
            cast(null as {{ dbt.type_string() }})
            {%- endif %}
        ) as named_billing_object_id
    from erp
    left join invoices as by_number
        on erp.posting_kind = 'invoice'
        and erp.billing_object_id is null
        and erp.typed_billing_id is null
        and erp.tran_id = by_number.invoice_number

),

-- tier content: the best twin of each posting that names nothing (named twins first,
-- then the lowest ERP id); a twin without a name of its own must be older. A close twin is
-- within duplicate_window_days (or has the same document number); a far one, a named
-- posting within date_window_days, is used only when the rule finds nothing (below)
twin_pairs as (

    select
        unnamed.erp_transaction_id,
        twin.erp_transaction_id as twin_erp_transaction_id,
        twin.named_billing_object_id as twin_billing_object_id,
        twin.named_billing_object_id is not null as is_twin_named,
        abs({{ days_between('twin.transaction_date', 'unnamed.transaction_date') }})
            <= {{ matching['duplicate_window_days'] }}
            or twin.tran_id = unnamed.tran_id as is_close
    from identified as unnamed
    inner join identified as twin
        on twin.posting_kind = unnamed.posting_kind
        and twin.transaction_type = unnamed.transaction_type
        and twin.erp_transaction_id <> unnamed.erp_transaction_id
        and (
            (
                (twin.erp_customer_id = unnamed.erp_customer_id
                    or twin.billing_customer_id = unnamed.billing_customer_id)
                and twin.currency = unnamed.currency
                and twin.foreign_total = unnamed.foreign_total
                and abs({{ days_between('twin.transaction_date', 'unnamed.transaction_date') }})
                    <= {{ [matching['duplicate_window_days'], matching['date_window_days']] | max }}
            )
            or twin.tran_id = unnamed.tran_id
        )
        and (
            twin.named_billing_object_id is not null
            or twin.erp_transaction_id < unnamed.erp_transaction_id
        )
    where unnamed.named_billing_object_id is null
        and unnamed.posting_kind is not null

),

twins as (

    select
        twin_pairs.*,
        row_number() over (
            partition by erp_transaction_id, is_close
            order by case when is_twin_named then 0 else 1 end, twin_erp_transaction_id
        ) as twin_rank
    from twin_pairs

),

content_duplicates as (

    select * from twins where is_close and twin_rank = 1

),

-- tier rule: postings that name nothing and copy nothing, against the billing objects of
-- their customer that no posting names
rule_candidates as (

    {% if 'rule' in matching['tiers'] %}
    select
        unnamed.erp_transaction_id,
        billing_objects.billing_object_id,
        abs({{ days_between('billing_objects.object_date', 'unnamed.transaction_date') }})
            as days_apart
    from identified as unnamed
    inner join billing_objects
        on billing_objects.posting_kind = unnamed.posting_kind
        and billing_objects.customer_id = unnamed.billing_customer_id
        and billing_objects.currency = unnamed.currency
        and {{ amounts_within_tolerance(
            'billing_objects.amount_minor',
            major_to_minor('unnamed.foreign_total', 'unnamed.currency')
        ) }}
        and abs({{ days_between('billing_objects.object_date', 'unnamed.transaction_date') }})
            <= {{ matching['date_window_days'] }}
    where unnamed.named_billing_object_id is null
        and unnamed.posting_kind is not null
        and not exists (
            select 1 from content_duplicates
            where content_duplicates.erp_transaction_id = unnamed.erp_transaction_id
        )
        and not exists (
            select 1 from identified as named
            where named.named_billing_object_id = billing_objects.billing_object_id
        )
    {% else %}
    select
        cast(null as bigint) as erp_transaction_id,
        cast(null as {{ dbt.type_string() }}) as billing_object_id,
        0 as days_apart
    where false
    {% endif %}

),

rule_counted as (

    {{ candidate_counts('rule_candidates', 'erp_transaction_id', 'billing_object_id', 'days_apart') }}

),

rule_matched as (

    select erp_transaction_id, billing_object_id from rule_counted where is_one_to_one

),

ambiguous as (

    select
        erp_transaction_id,
        {{ dbt.listagg('billing_object_id', "', '", 'order by billing_object_id') }} as candidates
    from rule_counted
    where is_ambiguous_pair
    group by erp_transaction_id

),

-- a posting no id, close twin or rule explains that copies a named posting of the window
far_duplicates as (

    select twins.*
    from twins
    where not twins.is_close
        and twins.is_twin_named
        and twins.twin_rank = 1
        and not exists (
            select 1 from content_duplicates
            where content_duplicates.erp_transaction_id = twins.erp_transaction_id
        )
        and not exists (
            select 1 from rule_candidates
            where rule_candidates.erp_transaction_id = twins.erp_transaction_id
        )

),

duplicates as (

    select * from content_duplicates
    union all
    select * from far_duplicates

),

final as (

    select
        ---------- ids
        identified.erp_transaction_id,
        identified.tran_id,
        identified.external_id,
        coalesce(
            identified.named_billing_object_id,
            rule_matched.billing_object_id,
            duplicates.twin_billing_object_id,
            twin_rule.billing_object_id
        ) as billing_object_id,
        identified.q2c_export_kind,
        identified.erp_customer_id,
        identified.billing_customer_id,
        duplicates.twin_erp_transaction_id as duplicate_of_erp_transaction_id,

        ---------- match facts
        case
            when identified.named_billing_object_id is not null then 'external_id'
            when duplicates.erp_transaction_id is not null then 'content'
            when rule_matched.erp_transaction_id is not null then 'rule'
            else 'unmatched'
        end as match_method,
        ambiguous.candidates as ambiguous_candidates,

        ---------- attributes
        identified.posting_kind,
        identified.transaction_type,
        identified.transaction_status,
        identified.currency,
        identified.posting_period_id,
        identified.posting_period_name,

        ---------- amounts (exact decimals, major units of `currency`)
        identified.foreign_total,

        ---------- dates
        identified.transaction_date,
        identified.posting_period_start,
        identified.posting_period_end,

        ---------- flags
        duplicates.erp_transaction_id is not null as is_content_duplicate,
        ambiguous.erp_transaction_id is not null as is_ambiguous

    from identified
    left join rule_matched
        on identified.erp_transaction_id = rule_matched.erp_transaction_id
    left join duplicates
        on identified.erp_transaction_id = duplicates.erp_transaction_id
    -- a copy of a posting that was itself matched by rule posts the same object
    left join rule_matched as twin_rule
        on duplicates.twin_erp_transaction_id = twin_rule.erp_transaction_id
    left join ambiguous
        on identified.erp_transaction_id = ambiguous.erp_transaction_id

)

select * from final
