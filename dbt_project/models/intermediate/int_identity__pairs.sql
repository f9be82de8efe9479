{#- Every pair of distinct identifiers seen together in one source record (a < b, by identifier key), with its
    evidence: how many records hold both, when they were first and last seen together, and the first such
    record. Built on identity signatures (int_identity__signature_occurrences): the records of one signature
    hold the same identifiers, so a pair's record count is the sum of its signatures' record counts, its
    sightings the extremes of theirs, and its first record the smallest of their first records. Built once, it
    serves both the shared-value check of int_identity__nodes (how many strong identifiers a value is seen
    with) and int_identity__edges (the pairs whose ends are usable), so the signatures are joined to themselves
    once. -#}
with in_multi as (
    -- the identifiers of signatures with several (signature_identifiers: how many their signature has)
    select
        signature_id,
        identifier_type || ':' || identifier_value as identifier_key,
        records,
        first_seen_at,
        last_seen_at
    from {{ ref('int_identity__signature_occurrences') }}
    where signature_identifiers > 1
)

select
    a.identifier_key as a,
    b.identifier_key as b,
    cast(sum(a.records) as bigint) as records,
    min(a.first_seen_at) as first_seen_at,
    max(a.last_seen_at) as last_seen_at,
    min(a.signature_id) as source_record
from in_multi as a
inner join in_multi as b
    on a.signature_id = b.signature_id and a.identifier_key < b.identifier_key
group by 1, 2
