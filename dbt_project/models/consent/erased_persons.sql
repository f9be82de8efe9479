-- Everyone with a right-to-erasure request, resolved to a person through the identity graph, from two sources:
-- * the raw requests (raw.erasure_requests, normalized in stg_privacy__erasure_requests);
-- * the erasure ledger (outflow_sync.erasure_ledger, written by `outflow privacy erase`): the hashed record of every
--   request ever processed, SHA-256 of `type:normalized identifier`. It only grows, so a person stays excluded
--   even when a later load no longer holds their request.
-- Every activation model (sync_*, trg_*) excludes these persons, so the next sync removes them from every
-- destination; the sync run log can join to this model to prove it.
{{ config(materialized='table') }}

with ledger as (
    {{ outflow_sync_table('erasure_ledger', {
        'request_id': 'varchar', 'identifier_type': 'varchar', 'subject_hash': 'varchar',
        'requested_at': 'timestamp'}) }}
),

identifiers as (
    select person_id, identifier_type, identifier_value
    from {{ ref('int_identity__identifiers') }}
    where person_id is not null and identifier_type in ('email', 'phone')
),

matches as (
    select i.person_id, r.request_id, r.requested_at
    from {{ ref('stg_privacy__erasure_requests') }} as r
    inner join identifiers as i
        on i.identifier_type = r.identifier_type and i.identifier_value = r.identifier_value
    union
    select i.person_id, l.request_id, l.requested_at
    from ledger as l
    inner join identifiers as i
        on i.identifier_type = l.identifier_type
        and {{ outflow_sha256("i.identifier_type || ':' || i.identifier_value") }} = l.subject_hash
)

select
    person_id,
    min(requested_at) as requested_at,
    {{ outflow_string_agg('request_id', "','") }} as request_ids,
    count(*) as request_count
from matches
group by person_id
