-- People a journey handed to sales, for a CRM upsert by email: the latest handoff per address.
{{ config(materialized='view') }}

with handoffs as (
    select
        s.email,
        s.person_id,
        s.journey,
        s.step,
        s.channel,
        s.purpose,
        s.emitted_at,
        row_number() over (partition by s.email order by s.emitted_at desc, s.idempotency_key) as rn
    from {{ ref('int_journey__sends_gated') }} as s
    where s.model = 'sync_journey_sales_handoff' and coalesce(s.email, '') <> ''
)

select
    email,
    person_id,
    channel,
    purpose,
    'salesqualifiedlead' as lifecycle_stage,
    journey || ':' || step as handed_over_by,
    emitted_at as handed_over_at
from handoffs
where rn = 1
