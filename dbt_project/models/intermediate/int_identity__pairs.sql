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
    table rebuilt whole.

    From scratch (a first build, a full refresh, Spark) each signature's pairs are taken from its row of
    int_identity__signatures, which holds its identifiers side by side (the columns the occurrences unpivot), rather
    than by joining its occurrences to themselves on signature_id: the same pairs, without a join of every
    occurrence of a signature with several identifiers on a string key; grouped by the two identifiers' types and
    values, the keys built once per pair after the grouping. -#}
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

{#- the daily run reads the occurrences; dbt finds a ref only in the SQL it parses (as a build from scratch) -#}
-- depends_on: {{ ref('int_identity__signature_occurrences') }}

with
{%- if not is_incremental() %}

{%- set held = outflow_identity_signature_identifiers() %}

{#- each two of the identifier columns, as slots (i, j) ordered so that type i sorts before type j: a key is its
    type, ':' and its value, and no type is a prefix of another, so of two keys of different types the one of the
    type that sorts first is the smaller whatever the values (a < b by key, as the daily run compares them) -#}
{%- set slots = [] %}
{%- for i in range(held | length) %}{% for j in range(i + 1, held | length) %}
{%- if held[i][0].startswith(held[j][0]) or held[j][0].startswith(held[i][0]) %}
{{- exceptions.raise_compiler_error('identifier types ' ~ held[i][0] ~ ' and ' ~ held[j][0] ~ ': one is a prefix of the other') }}
{%- endif %}
{%- if held[i][0] < held[j][0] %}{% do slots.append((i + 1, j + 1)) %}{% else %}{% do slots.append((j + 1, i + 1)) %}{% endif %}
{%- endfor %}{% endfor %}

valued as (
    -- each signature's identifier values, as int_identity__signature_occurrences writes them (null where it lacks
    -- one; a consent signature holds one identifier, so no pair)
    select
        signature_id,
        records,
        first_seen_at,
        last_seen_at
        {%- for identifier_type, column, condition in held %},
        {% if condition %}case when {{ condition }} then {% endif -%}
        {{ column }}{% if condition %} end{% endif %} as v{{ loop.index }}
        {%- endfor %}
    from {{ ref('int_identity__signatures') }}
),

held as (
    -- each two of a signature's values (null when it lacks one), type i's first
    select
        signature_id,
        records,
        first_seen_at,
        last_seen_at,
        slot.i,
        slot.j,
        case slot.i {% for n in range(1, held | length + 1) %}when {{ n }} then v{{ n }} {% endfor %}end as x,
        case slot.j {% for n in range(1, held | length + 1) %}when {{ n }} then v{{ n }} {% endfor %}end as y
    from valued
    cross join (values
        {%- for i, j in slots %}{{ ' ' if loop.first else ', ' }}({{ i }}, {{ j }}){% endfor %}) as slot (i, j)
),

grouped as (
    -- grouped by the two types and values (the same groups as by the two keys), the keys built once per pair
    select
        i,
        j,
        x,
        y,
        cast(sum(records) as bigint) as records,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        min(signature_id) as source_record
    from held
    where x is not null and y is not null
    group by i, j, x, y
)

select
    {{ outflow_identity_key(outflow_identity_slot_type('i'), 'x') }} as a,
    {{ outflow_identity_key(outflow_identity_slot_type('j'), 'y') }} as b,
    records,
    first_seen_at,
    last_seen_at,
    source_record
from grouped

{%- else %}

in_multi as (
    -- the identifiers of signatures with several (signature_identifiers: how many their signature has)
    select
        signature_id,
        {{ outflow_identity_key('identifier_type', 'identifier_value') }} as identifier_key,
        records,
        first_seen_at,
        last_seen_at,
        written_at
    from {{ ref('int_identity__signature_occurrences') }}
    where signature_identifiers > 1
),

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

summed as (
    -- each touched pair summed over every signature holding both
    select
        x.identifier_key as a,
        y.identifier_key as b,
        cast(sum(x.records) as bigint) as records,
        min(x.first_seen_at) as first_seen_at,
        max(x.last_seen_at) as last_seen_at,
        min(x.signature_id) as source_record
    from holding as x
    inner join holding as y
        on x.signature_id = y.signature_id and x.identifier_key < y.identifier_key
    inner join touched
        on touched.a = x.identifier_key and touched.b = y.identifier_key
    group by 1, 2
)

-- a touched pair no signature holds any more: no records (deleted by the post-hook)
select
    touched.a, touched.b, coalesce(summed.records, 0) as records, summed.first_seen_at, summed.last_seen_at,
    summed.source_record
from touched
left join summed
    on summed.a = touched.a and summed.b = touched.b
{%- endif %}
