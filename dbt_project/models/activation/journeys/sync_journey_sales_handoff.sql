-- People a journey handed to sales, for a CRM upsert by email: the latest handoff per address.
{{ config(materialized='view', pre_hook=outflow_journey_sends_table()) }}

with handoffs as (
    select
        p.email,
        s.person_id,
        s.journey,
        s.step,
        s.channel,
        s.purpose,
        s.emitted_at,
        row_number() over (partition by p.email order by s.emitted_at desc, s.idempotency_key) as rn
    from outflow_journeys.journey_sends as s
    inner join {{ ref('dim_profiles') }} as p on p.person_id = s.person_id
    where s.model = 'sync_journey_sales_handoff' and coalesce(p.email, '') <> ''
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
