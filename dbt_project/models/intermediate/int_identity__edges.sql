{#- Pairs of usable identifiers (from int_identity__pairs) and the evidence that links them: how many records
    hold both, when they were first and last seen together, and the first such record. The identity step (outflow/person_map.py) adds
    these to the edges it remembers (outflow_identity.edges_seen) and orders weak links by their evidence.
    `origin` names what produced the edge ('record': seen together in one source record; 'fuzzy': the fuzzy
    stage), so that a stage switched off drops the edges it made. Another kind of link joins by one more
    `union all` input with the same columns (a < b) and an origin of its own.
    A view: its one reader, the identity step, copies it into outflow_identity.edges_seen from scratch and merges
    it there on a day, so a table would write every pair a second time per build for nothing (the blocked ends are
    a join with the few blocked nodes, read as the step reads the view). -#}
{{ config(materialized='view') }}
with blocked as (
    -- every end of a pair is a node (both come from int_identity__signature_occurrences), so the usable ends are
    -- those not blocked: a join with the few blocked nodes, not with every usable one
    select identifier_key from {{ ref('int_identity__nodes') }} where block_reason is not null
),

co_occurrence as (
    -- the pairs seen in one record whose ends are both usable
    select pairs.*
    from {{ ref('int_identity__pairs') }} as pairs
    left join blocked as blocked_a
        on blocked_a.identifier_key = pairs.a
    left join blocked as blocked_b
        on blocked_b.identifier_key = pairs.b
    where blocked_a.identifier_key is null and blocked_b.identifier_key is null
)

select a, b, 'record' as origin, records, first_seen_at, last_seen_at, source_record from co_occurrence
union all
-- the fuzzy stage's accepted pairs (empty when it is off), one record each
select a, b, 'fuzzy' as origin, 1 as records, seen_at as first_seen_at, seen_at as last_seen_at, source_record
from {{ ref('int_identity__fuzzy_links') }}
