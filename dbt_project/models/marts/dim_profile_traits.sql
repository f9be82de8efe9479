{#- Behavioural traits per person, relative to outflow_now(): recency, frequency, monetary value,
    email engagement and lifecycle stage, and the customer-base inputs counted in purchase occasions
    (int_orders__occasions): repeat frequency, recency and age T in days, average order value. -#}
with events as (
    select * from {{ ref('fct_events') }} where occurred_at < {{ outflow_now() }}
),

profiles as (
    select * from {{ ref('dim_profiles') }}
),

occasions as (
    select
        person_id,
        count(*) as purchase_occasions,
        sum(amount) as occasion_revenue,
        min(occasion_at) as first_occasion_at,
        max(occasion_at) as last_occasion_at
    from {{ ref('int_orders__occasions') }}
    group by person_id
),

agg as (
    select
        person_id,
        min(occurred_at) as first_event_at,
        max(occurred_at) as last_event_at,
        count(*) filter (where source = 'web' and occurred_at > {{ outflow_now() }} - interval '30 days') as web_events_30d,
        count(*) filter (
            where source = 'web' and page_path = '/pricing' and occurred_at > {{ outflow_now() }} - interval '30 days'
        ) as pricing_views_30d,
        count(*) filter (where event_type = 'order_completed') as order_count,
        coalesce(sum(amount) filter (where event_type = 'order_completed'), 0) as total_revenue,
        min(occurred_at) filter (where event_type = 'order_completed') as first_order_at,
        max(occurred_at) filter (where event_type = 'order_completed') as last_order_at,
        count(*) filter (where event_type = 'open' and occurred_at > {{ outflow_now() }} - interval '30 days') as email_opens_30d,
        count(*) filter (where event_type = 'click' and occurred_at > {{ outflow_now() }} - interval '30 days') as email_clicks_30d,
        bool_or(event_type in ('form_submit', 'trial_started', 'signup')) as has_converted_on_site
    from events
    group by person_id
)

select
    profiles.person_id,
    coalesce(agg.first_event_at, profiles.first_seen_at) as first_seen_at,
    coalesce(agg.last_event_at, profiles.last_seen_at) as last_seen_at,
    cast({{ dbt.datediff('coalesce(agg.last_event_at, profiles.last_seen_at)', outflow_now(), 'day') }} as integer) as days_since_last_seen,
    cast(coalesce(agg.web_events_30d, 0) as integer) as web_events_30d,
    cast(coalesce(agg.pricing_views_30d, 0) as integer) as pricing_views_30d,
    cast(coalesce(agg.order_count, 0) as integer) as order_count,
    cast(coalesce(agg.total_revenue, 0) as {{ outflow_double() }}) as total_revenue,
    agg.first_order_at,
    agg.last_order_at,
    cast({{ dbt.datediff('agg.last_order_at', outflow_now(), 'day') }} as integer) as days_since_last_order,
    cast(coalesce(agg.email_opens_30d, 0) as integer) as email_opens_30d,
    cast(coalesce(agg.email_clicks_30d, 0) as integer) as email_clicks_30d,
    cast(coalesce(occasions.purchase_occasions, 0) as integer) as purchase_occasions,
    cast(greatest(coalesce(occasions.purchase_occasions, 0) - 1, 0) as integer) as repeat_frequency,
    cast({{ dbt.datediff('occasions.first_occasion_at', 'occasions.last_occasion_at', 'second') }} as {{ outflow_double() }})
        / 86400.0 as recency_days,
    cast({{ dbt.datediff('occasions.first_occasion_at', outflow_now(), 'second') }} as {{ outflow_double() }})
        / 86400.0 as customer_age_days,
    cast(occasions.occasion_revenue as {{ outflow_double() }}) / occasions.purchase_occasions as avg_order_value,
    case
        when coalesce(agg.order_count, 0) > 0 then 'customer'
        when profiles.crm_id is not null or coalesce(agg.has_converted_on_site, false) then 'lead'
        when profiles.email is not null then 'subscriber'
        else 'visitor'
    end as lifecycle_stage
from profiles
left join agg using (person_id)
left join occasions using (person_id)
