-- Every trigger row after the gate, the frequency cap and quiet hours.
-- * Gate: erased and globally excluded persons are dropped; non-transactional triggers need granted consent
--   for their purpose on their channel; the channel needs an address.
-- * Frequency cap: at most `trigger_cap` (default 1) triggers per person and channel whose trigger time falls
--   in the trailing `trigger_cap_window_days` (default 7) days; the earliest (then the most important) wins.
--   The ranking uses only trigger data, so it is the same on every run and rebuild.
-- * Quiet hours: if it is between `quiet_start_hour` (21) and `quiet_end_hour` (8) in the person's time zone
--   (dim_profiles.timezone, derived from the country), send_after is the next quiet_end_hour local time, in UTC; unknown zone: now.
{{ config(materialized='table') }}

{% set cap = var('trigger_cap', 1) %}
{% set cap_days = var('trigger_cap_window_days', 7) %}
{% set quiet_start = var('quiet_start_hour', 21) %}
{% set quiet_end = var('quiet_end_hour', 8) %}

with candidates as (
    select * from {{ ref('int_trigger__cart_abandoned') }}
    union all
    select * from {{ ref('int_trigger__lead_score_threshold') }}
    union all
    select * from {{ ref('int_trigger__trial_ending') }}
    union all
    select * from {{ ref('int_trigger__reengagement') }}
),

gated as (
    select c.*, p.email, p.phone, p.first_name, p.last_name, p.country, p.timezone
    from candidates as c
    inner join {{ ref('dim_profiles') }} as p on p.person_id = c.person_id
    left join {{ ref('dim_consent') }} as k
        on k.person_id = c.person_id and k.channel = c.channel and k.purpose = c.purpose
    where not exists (select 1 from {{ ref('erased_persons') }} as x where x.person_id = c.person_id)
      and not exists (select 1 from {{ ref('excluded_persons') }} as x where x.person_id = c.person_id)
      and (c.purpose = 'transactional' or coalesce(k.is_granted, false))
      and not exists (
          select 1 from {{ ref('int_consent__suppressions') }} as s
          where s.person_id = c.person_id and s.channel = c.channel
      )
      and case c.channel
            when 'email' then coalesce(p.email, '') <> ''
            when 'sms' then coalesce(p.phone, '') <> ''
            else coalesce(p.email, '') <> '' or coalesce(p.phone, '') <> ''
          end
),

capped as (
    select
        *,
        case when triggered_at > cast({{ outflow_now() }} as timestamp) - interval '{{ cap_days }} days'
            then row_number() over (
                partition by person_id, channel,
                    triggered_at > cast({{ outflow_now() }} as timestamp) - interval '{{ cap_days }} days'
                order by triggered_at, priority, idempotency_key
            )
            else 1
        end as cap_rank
    from gated
),

zoned as (
    select
        c.*,
        c.timezone as time_zone,
        case when c.timezone is not null
            then (cast({{ outflow_now() }} as timestamp) at time zone 'UTC') at time zone c.timezone
        end as local_now
    from capped as c
    where c.cap_rank <= {{ cap }}
)

select
    trigger_name,
    idempotency_key,
    person_id,
    channel,
    purpose,
    email,
    phone,
    first_name,
    last_name,
    country,
    time_zone,
    triggered_at,
    case
        when local_now is null then cast({{ outflow_now() }} as timestamp)
        when hour(local_now) >= {{ quiet_start }} or hour(local_now) < {{ quiet_end }} then
            cast(
                timezone(
                    time_zone,
                    date_trunc('day', local_now)
                    + (case when hour(local_now) >= {{ quiet_start }} then interval 1 day else interval 0 day end)
                    + interval '{{ quiet_end }} hours'
                ) at time zone 'UTC' as timestamp
            )
        else cast({{ outflow_now() }} as timestamp)
    end as send_after,
    context
from zoned
