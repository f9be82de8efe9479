-- Everyone with a right-to-erasure request, resolved to a person through the identity graph.
-- Every activation model (sync_*, trg_*) excludes these persons, so the next sync removes them from every
-- destination; the sync run log can join to this model to prove it.
{{ config(materialized='table') }}

select
    i.person_id,
    min(r.requested_at) as requested_at,
    string_agg(r.request_id, ',' order by r.request_id) as request_ids,
    count(*) as request_count
from {{ ref('stg_privacy__erasure_requests') }} as r
inner join {{ ref('int_identity__identifiers') }} as i
    on i.identifier_type = r.identifier_type and i.identifier_value = r.identifier_value
where i.person_id is not null
group by i.person_id
