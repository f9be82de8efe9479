{#- Behavioural traits per person, relative to outflow_now(): recency, frequency, monetary value,
    email engagement and lifecycle stage, and the customer-base inputs counted in purchase occasions
    (int_orders__occasions): repeat frequency, recency and age T in days, average order value. -#}
{#- Three aggregates, each over the events it needs: first and last seen and the conversions over every event before
    now, the 30-day counts over the events of the last 30 days, the orders over the completed orders. One aggregate
    of every event with every figure filtered inside it evaluated each filter on every event; the same rows, about a
    fifth cheaper (docs/performance.md, "Traits, scores and the CRM snapshot on a daily build"). It is still
    rebuilt whole: every row changes with the as-of every day (docs/incremental.md). -#}
{%- set events = "(select * from " ~ ref('fct_events') ~ " where occurred_at < " ~ outflow_now() ~ ")" %}
with profiles as (
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

seen as (
    select
        person_id,
        min(occurred_at) as first_event_at,
        max(occurred_at) as last_event_at,
        bool_or(event_type in ('form_submit', 'trial_started', 'signup')) as has_converted_on_site
    from {{ events }} as events
    group by person_id
),

recent as (
    select
        person_id,
        count(*) filter (where source = 'web') as web_events_30d,
        count(*) filter (where source = 'web' and page_path = '/pricing') as pricing_views_30d,
        count(*) filter (where event_type = 'open') as email_opens_30d,
        count(*) filter (where event_type = 'click') as email_clicks_30d
    from {{ events }} as events
    where occurred_at > {{ outflow_now() }} - interval '30 days'
    group by person_id
),

orders as (
    select
        person_id,
        count(*) as order_count,
        sum(amount) as total_revenue,
        min(occurred_at) as first_order_at,
        max(occurred_at) as last_order_at
    from {{ events }} as events
    where event_type = 'order_completed'
    group by person_id
),

agg as (
    -- a person with events: what the three give, no order and no recent event counted as none
    select
        seen.person_id,
        seen.first_event_at,
        seen.last_event_at,
        recent.web_events_30d,
        recent.pricing_views_30d,
        orders.order_count,
        coalesce(orders.total_revenue, 0) as total_revenue,
        orders.first_order_at,
        orders.last_order_at,
        recent.email_opens_30d,
        recent.email_clicks_30d,
        seen.has_converted_on_site
    from seen
    left join recent using (person_id)
    left join orders using (person_id)
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
