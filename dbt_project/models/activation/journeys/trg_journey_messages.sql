-- Journey sends for message syncs, after the consent gate and frequency cap (int_journey__sends_gated).
-- A view, so a sync run right after an evaluation sees its sends.
-- Quiet hours as for triggers (docs/segments.md): a send emitted between `quiet_start_hour` (21) and
-- `quiet_end_hour` (8) in the person's time zone gets send_after = the next quiet_end_hour local time, in UTC;
-- otherwise (or with no known zone) send_after is when it was emitted.
{{ config(materialized='view') }}

{% set quiet_start = var('quiet_start_hour', 21) %}
{% set quiet_end = var('quiet_end_hour', 8) %}

with zoned as (
    select
        s.*,
        case when s.timezone is not null
            then {{ outflow_local_time('cast(s.emitted_at as timestamp)', 's.timezone') }}
        end as local_emitted
    from {{ ref('int_journey__sends_gated') }} as s
    where s.model = 'trg_journey_messages'
)

select
    s.idempotency_key,
    'journey:' || s.journey || ':' || s.step as trigger_name,
    s.journey as journey_id,
    s.step as step_id,
    s.message,
    s.person_id,
    s.channel,
    s.purpose,
    s.email,
    s.first_name,
    s.last_name,
    s.country,
    s.timezone as time_zone,
    s.emitted_at as triggered_at,
    case
        when s.local_emitted is null then cast(s.emitted_at as timestamp)
        when extract(hour from s.local_emitted) >= {{ quiet_start }}
            or extract(hour from s.local_emitted) < {{ quiet_end }} then
            cast(
                {{ outflow_utc_time(
                    "date_trunc('day', s.local_emitted)
                    + (case when extract(hour from s.local_emitted) >= " ~ quiet_start ~ "
                        then interval '1 day' else interval '0 days' end)
                    + interval '" ~ quiet_end ~ " hours'",
                    's.timezone'
                ) }} as timestamp
            )
        else cast(s.emitted_at as timestamp)
    end as send_after,
    s.properties
from zoned as s
