-- The gate every audience passes before anything leaves the warehouse:
--   1. erased persons are removed (always, even for transactional audiences);
--   2. the global exclusion list is removed (always);
--   3. consent: a non-transactional audience keeps only people whose latest consent for the audience's
--      purpose on its channel is `granted` (no record = no consent);
--   4. suppressions: a hard-bounced current email blocks the email channel (transactional included);
--   5. reachability: the channel needs an address (email: an email; sms: a phone; ads: either).
{{ config(materialized='table') }}

with candidates as (
    select * from {{ ref('int_audience__candidates') }}
),

profiles as (
    select person_id, email, phone from {{ ref('dim_profiles') }}
)

select c.*
from candidates as c
inner join profiles as p on p.person_id = c.person_id
left join {{ ref('dim_consent') }} as k
    on k.person_id = c.person_id and k.channel = c.channel and k.purpose = c.purpose
where not exists (select 1 from {{ ref('erased_persons') }} as x where x.person_id = c.person_id)
  and not exists (select 1 from {{ ref('excluded_persons') }} as x where x.person_id = c.person_id)
  and (c.is_transactional or coalesce(k.is_granted, false))
  and not exists (
      select 1 from {{ ref('int_consent__suppressions') }} as s
      where s.person_id = c.person_id and s.channel = c.channel
  )
  and case c.channel
        when 'email' then coalesce(p.email, '') <> ''
        when 'sms' then coalesce(p.phone, '') <> ''
        when 'ads' then coalesce(p.email, '') <> '' or coalesce(p.phone, '') <> ''
        else false
      end
