{#- Every pair of distinct identifiers seen together in one source record (a < b, by identifier key), with its
    evidence: how many records hold both, when they were first and last seen together, and the first such
    record. Built once from the occurrences, it serves both the shared-value check of int_identity__nodes (how
    many strong identifiers a value is seen with) and int_identity__edges (the pairs whose ends are usable), so
    the records are joined to themselves once. Each identifier of a record with several is taken once (with its
    first and last sighting in the record), so a pair's record count is a plain count, not a count of distinct
    records per pair. -#}
with occurrences as (
    select record_id, identifier_type, identifier_value, observed_at
    from {{ ref('int_identity__occurrences') }}
),

multi as (
    select record_id from occurrences group by record_id having count(*) > 1
),

in_multi as (
    select
        record_id,
        identifier_type || ':' || identifier_value as identifier_key,
        min(observed_at) as first_seen_at,
        max(observed_at) as last_seen_at
    from occurrences
    where record_id in (select record_id from multi)
    group by record_id, identifier_type, identifier_value
)

select
    a.identifier_key as a,
    b.identifier_key as b,
    count(*) as records,
    min(a.first_seen_at) as first_seen_at,
    max(a.last_seen_at) as last_seen_at,
    min(a.record_id) as source_record
from in_multi as a
inner join in_multi as b
    on a.record_id = b.record_id and a.identifier_key < b.identifier_key
group by 1, 2
