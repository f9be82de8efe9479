{#- Pairs of usable identifiers and the evidence that links them: how many records hold both, when they were
    first and last seen together, and the first such record. The identity step (outflow/person_map.py) adds
    these to the edges it remembers (outflow_identity.edges_seen) and orders weak links by their evidence.
    Another kind of link joins by one more `union all` input with the same columns (a < b). -#}
with usable as (
    select occurrences.record_id, occurrences.observed_at, nodes.identifier_key
    from {{ ref('int_identity__occurrences') }} as occurrences
    inner join {{ ref('int_identity__nodes') }} as nodes
        using (identifier_type, identifier_value)
    where nodes.block_reason is null
),

multi as (
    select record_id from usable group by record_id having count(*) > 1
),

in_multi as (
    select usable.* from usable where usable.record_id in (select record_id from multi)
),

co_occurrence as (
    select
        a.identifier_key as a,
        b.identifier_key as b,
        count(distinct a.record_id) as records,
        min(a.observed_at) as first_seen_at,
        max(a.observed_at) as last_seen_at,
        min(a.record_id) as source_record
    from in_multi as a
    inner join in_multi as b
        on a.record_id = b.record_id and a.identifier_key < b.identifier_key
    group by 1, 2
)

select a, b, records, first_seen_at, last_seen_at, source_record from co_occurrence
union all
-- the fuzzy stage's accepted pairs (empty when it is off), one record each
select a, b, 1 as records, seen_at as first_seen_at, seen_at as last_seen_at, source_record
from {{ ref('int_identity__fuzzy_links') }}
