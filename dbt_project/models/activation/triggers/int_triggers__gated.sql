-- Every trigger row after the gate, the frequency cap and quiet hours.
-- * Gate (int_triggers__arms): erased and globally excluded persons are dropped; non-transactional triggers
--   need granted consent for their purpose on their channel; the channel needs an address; the trigger's
--   holdout (var trigger_holdout_pct) is kept out.
-- * Frequency cap: a person gets at most `trigger_cap` (default 1) trigger messages per channel in the
--   trailing `trigger_cap_window_days` (default 7) days. What counts is what the sync engine actually
--   delivered (int_trigger__deliveries, from its run log and acknowledged state), not what the models
--   produced: someone who already received `trigger_cap` messages on the channel in the window gets no new
--   trigger row; otherwise the pending (not yet delivered) rows fill the remaining allowance, the most
--   important trigger first (then the most recent). Rows already delivered stay (an insert-only sync never
--   re-sends a key). Before the first sync nothing has been delivered and the cap limits the pending rows.
-- * Quiet hours: if it is between `quiet_start_hour` (21) and `quiet_end_hour` (8) in the person's time zone
--   (dim_profiles.timezone, derived from the country), send_after is the next quiet_end_hour local time, in UTC; unknown zone: now.
{{ config(materialized='table') }}

{% set cap = var('trigger_cap', 1) %}
{% set cap_days = var('trigger_cap_window_days', 7) %}
{% set quiet_start = var('quiet_start_hour', 21) %}
{% set quiet_end = var('quiet_end_hour', 8) %}

with gated as (  -- the gate and the trigger's control arm (int_triggers__arms): held-out rows are never sent
    select * from {{ ref('int_triggers__arms') }} where arm = 'treated'
),

deliveries as (
    select * from {{ ref('int_trigger__deliveries') }}
),

-- Messages already delivered per person and channel in the window.
recent as (
    select person_id, channel, count(*) as delivered_recently
    from deliveries
    where delivered_at > cast({{ outflow_now() }} as timestamp) - interval '{{ cap_days }} days'
    group by 1, 2
),

ranked as (
    select
        g.*,
        d.idempotency_key is not null as is_delivered,
        coalesce(r.delivered_recently, 0) as delivered_recently,
        row_number() over (
            partition by g.person_id, g.channel, d.idempotency_key is not null
            order by g.priority, g.triggered_at desc nulls last, g.idempotency_key
        ) as pending_rank
    from gated as g
    left join deliveries as d on d.idempotency_key = g.idempotency_key
    left join recent as r on r.person_id = g.person_id and r.channel = g.channel
),

capped as (
    select * from ranked
    where is_delivered or delivered_recently + pending_rank <= {{ cap }}
),

zoned as (
    select
        c.*,
        c.timezone as time_zone,
        case when c.timezone is not null
            then {{ outflow_local_time('cast(' ~ outflow_now() ~ ' as timestamp)', 'c.timezone') }}
        end as local_now
    from capped as c
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
        when extract(hour from local_now) >= {{ quiet_start }} or extract(hour from local_now) < {{ quiet_end }} then
            cast(
                {{ outflow_utc_time(
                    "date_trunc('day', local_now)
                    + (case when extract(hour from local_now) >= " ~ quiet_start ~ " then interval '1 day' else interval '0 days' end)
                    + interval '" ~ quiet_end ~ " hours'",
                    'time_zone'
                ) }} as timestamp
            )
        else cast({{ outflow_now() }} as timestamp)
    end as send_after,
    context
from zoned
