{#- Every pair of distinct identifiers seen together in one source record (a < b, by identifier key), with its
    evidence: how many records hold both, when they were first and last seen together, and the first such
    record. Built on identity signatures (int_identity__signature_occurrences): the records of one signature
    hold the same identifiers, so a pair's record count is the sum of its signatures' record counts, its
    sightings the extremes of theirs, and its first record the smallest of their first records. Built once, it
    serves both the shared-value check of int_identity__nodes (how many strong identifiers a value is seen
    with) and int_identity__edges (the pairs whose ends are usable), so the signatures are joined to themselves
    once.

    Incremental (delete+insert by a, b): a run re-aggregates only the pairs of the signatures the occurrences
    rewrote since its mark (their pairs as they are now, and as they were: the occurrences' log of replaced
    identifiers), each summed again over every signature holding both; a pair no signature holds any more is
    written with no records and deleted by the post-hook, which then stores the mark (the newest occurrence stamp
    read, in int_identity__marks) and empties the log. When every occurrence is newer than the mark (none stored,
    or the occurrences were rebuilt whole), the pre-hook empties the table and every pair is computed. On Spark a
    table rebuilt whole. -#}
{{ config(
    materialized=('table' if target.type == 'spark' else 'incremental'),
    unique_key=['a', 'b'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    tags=['derived'],
    pre_hook=([] if target.type == 'spark' else ["{{ outflow_identity_pairs_prepare() }}"]),
    post_hook=([] if target.type == 'spark' else [
        "delete from {{ this }} where records = 0",
        "{{ outflow_watermark_set({'occurrences': ['int_identity__signature_occurrences', 'written_at']},
            'int_identity__marks') }}",
        "delete from {{ outflow_identity_log('int_identity__signature_occurrences__replaced') }}"])
) }}


with in_multi as (
    -- the identifiers of signatures with several (signature_identifiers: how many their signature has)
    select
        signature_id,
        identifier_type || ':' || identifier_value as identifier_key,
        records,
        first_seen_at,
        last_seen_at
        {%- if is_incremental() %},
        written_at
        {%- endif %}
    from {{ ref('int_identity__signature_occurrences') }}
    where signature_identifiers > 1
),

{%- if is_incremental() %}

rewritten as materialized (
    -- the identifiers of the signatures rewritten since the mark (a signature's occurrences carry its stamp, so
    -- both ends of its pairs are here), read before the join: the mark is a subquery, which the planner would
    -- otherwise compare after joining every signature to itself
    select signature_id, identifier_key
    from in_multi
    where written_at > {{ outflow_watermark('occurrences', 'int_identity__marks') }}
),

touched as (
    -- the pairs of the signatures rewritten since the mark, as they are now and as they were
    select a.identifier_key as a, b.identifier_key as b
    from rewritten as a
    inner join rewritten as b
        on a.signature_id = b.signature_id and a.identifier_key < b.identifier_key
    union
    select a.identifier_key, b.identifier_key
    from {{ outflow_identity_log('int_identity__signature_occurrences__replaced') }} as a
    inner join {{ outflow_identity_log('int_identity__signature_occurrences__replaced') }} as b
        on a.signature_id = b.signature_id and a.identifier_key < b.identifier_key
),

holding as (
    -- the identifiers of the signatures that may hold a touched pair
    select *
    from in_multi
    where identifier_key in (select a from touched union select b from touched)
),

{%- endif %}

summed as (
    -- each pair summed over every signature holding both (on an incremental run: each touched pair)
    {%- set held = 'holding' if is_incremental() else 'in_multi' %}
    select
        x.identifier_key as a,
        y.identifier_key as b,
        cast(sum(x.records) as bigint) as records,
        min(x.first_seen_at) as first_seen_at,
        max(x.last_seen_at) as last_seen_at,
        min(x.signature_id) as source_record
    from {{ held }} as x
    inner join {{ held }} as y
        on x.signature_id = y.signature_id and x.identifier_key < y.identifier_key
    {%- if is_incremental() %}
    inner join touched
        on touched.a = x.identifier_key and touched.b = y.identifier_key
    {%- endif %}
    group by 1, 2
)

{%- if is_incremental() %}
-- a touched pair no signature holds any more: no records (deleted by the post-hook)
select
    touched.a, touched.b, coalesce(summed.records, 0) as records, summed.first_seen_at, summed.last_seen_at,
    summed.source_record
from touched
left join summed
    on summed.a = touched.a and summed.b = touched.b
{%- else %}
select * from summed
{%- endif %}
