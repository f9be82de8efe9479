{#- One row per campaign and exposed person: the arm (treated, or holdout for the holdout and the global control
    group), when they were exposed, and their orders in the declared window after it (var
    campaign_lift_window_days). Only exposures whose whole window lies before now are kept, so every person is
    followed for the same time. outflow/lift.py turns this into fct_campaign_lift. The campaigns:
    - audiences with a holdout or in the control group: exposed at the first entry into the audience;
    - triggers with a holdout (var trigger_holdout_pct): exposed when the trigger first fired for the person and
      passed the send gate (trigger_exposure_history);
    - journeys with a holdout (var journey_holdout_pct): exposed at the person's first admission
      (journey_exposure_history). -#}
{{ config(materialized='table') }}
{%- set window_days = var('campaign_lift_window_days', 14) | int %}

with stays as (
    select
        'audience' as campaign_type,
        audience as campaign,
        person_id,
        case when measurement_group = 'treatment' then 'treated' else 'holdout' end as arm,
        measurement_group,
        entered_at
    from {{ ref('audience_exposure_history') }}
    union all
    select 'trigger', trigger_name, person_id, arm, case when arm = 'treated' then 'treatment' else 'holdout' end,
        exposed_at
    from {{ ref('trigger_exposure_history') }}
    union all
    select 'journey', journey, person_id, arm, case when arm = 'treated' then 'treatment' else 'holdout' end,
        exposed_at
    from {{ ref('journey_exposure_history') }}
),

numbered as (
    select
        *,
        row_number() over (
            partition by campaign_type, campaign, person_id order by entered_at, measurement_group
        ) as stay_number
    from stays
),

exposures as (
    select campaign_type, campaign, person_id, arm, measurement_group, entered_at as exposed_at
    from numbered
    where stay_number = 1 and {{ dbt.dateadd('day', window_days, 'entered_at') }} <= {{ outflow_now() }}
),

measured as (
    select campaign_type, campaign from exposures group by campaign_type, campaign
    having count(distinct arm) = 2
),

orders as (
    select person_id, occurred_at, coalesce(amount, 0) as amount
    from {{ ref('fct_events') }}
    where event_type = 'order_completed' and occurred_at < {{ outflow_now() }}
)

select
    e.campaign_type,
    e.campaign,
    e.person_id,
    e.arm,
    e.measurement_group,
    cast(e.exposed_at as timestamp) as exposed_at,
    cast({{ window_days }} as integer) as window_days,
    cast(min(o.occurred_at) as timestamp) as first_conversion_at,
    cast(count(o.occurred_at) as integer) as conversions,
    cast(coalesce(sum(o.amount), 0) as {{ outflow_double() }}) as revenue,
    cast({{ outflow_now() }} as timestamp) as measured_as_of
from exposures as e
inner join measured using (campaign_type, campaign)
left join orders as o
    on o.person_id = e.person_id
    and o.occurred_at >= e.exposed_at
    and o.occurred_at < {{ dbt.dateadd('day', window_days, 'e.exposed_at') }}
group by e.campaign_type, e.campaign, e.person_id, e.arm, e.measurement_group, e.exposed_at
