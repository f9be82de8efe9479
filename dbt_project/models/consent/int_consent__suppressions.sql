-- Channel suppressions: a hard bounce on the person's current best email address makes the email channel
-- unusable for every purpose (transactional included) until the address changes.
{{ config(materialized='table') }}

select distinct
    l.person_id,
    l.channel,
    'hard_bounce' as reason,
    l.identifier_value,
    max(l.occurred_at) over (partition by l.person_id, l.channel) as suppressed_since
from {{ ref('int_consent__ledger') }} as l
inner join {{ ref('dim_profiles') }} as p
    on p.person_id = l.person_id and p.email_canonical = l.identifier_value
where l.status = 'suppressed' and l.channel = 'email'
