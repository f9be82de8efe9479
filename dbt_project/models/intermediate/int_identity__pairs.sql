{#- Every pair of distinct identifiers seen together in one source record (a < b, by identifier key), with its
    evidence: how many records hold both, when they were first and last seen together, and the first such
    record. Built once from the occurrences, it serves both the shared-value check of int_identity__nodes (how
    many strong identifiers a value is seen with) and int_identity__edges (the pairs whose ends are usable), so
    the records are joined to themselves once. -#}
with occurrences as (
    select record_id, observed_at, identifier_type || ':' || identifier_value as identifier_key
    from {{ ref('int_identity__occurrences') }}
),

multi as (
    select record_id from occurrences group by record_id having count(*) > 1
),

in_multi as (
    select occurrences.* from occurrences where occurrences.record_id in (select record_id from multi)
)

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
