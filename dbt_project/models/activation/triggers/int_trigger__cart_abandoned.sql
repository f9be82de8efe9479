-- Cart abandoned: the person's latest add_to_cart / checkout_started in the lookback window is at least
-- `cart_abandon_hours` old and no order followed it. One row per abandoned cart event.
{{ config(materialized='table') }}

{% set hours = var('cart_abandon_hours', 4) %}
{% set lookback_days = var('cart_lookback_days', 7) %}

with carts as (
    select person_id, event_id, occurred_at
    from {{ ref('fct_events') }}
    where event_type in ('add_to_cart', 'checkout_started')
      and person_id is not null
      and occurred_at <= cast({{ outflow_now() }} as timestamp) - interval '{{ hours }} hours'
      and occurred_at >= cast({{ outflow_now() }} as timestamp) - interval '{{ lookback_days }} days'
),

latest as (
    select *, row_number() over (partition by person_id order by occurred_at desc nulls last, event_id) as rn
    from carts
),

orders as (
    select person_id, occurred_at from {{ ref('fct_events') }} where event_type = 'order_completed' and person_id is not null
)

select
    'cart_abandoned' as trigger_name,
    md5('cart_abandoned|' || l.person_id || '|' || l.event_id) as idempotency_key,
    l.person_id,
    'email' as channel,
    'marketing' as purpose,
    1 as priority,
    l.occurred_at + interval '{{ hours }} hours' as triggered_at,
    'cart event ' || l.event_id as context
from latest as l
where l.rn = 1
  and not exists (
      select 1 from orders as o
      where o.person_id = l.person_id
        and o.occurred_at > l.occurred_at
        and o.occurred_at <= cast({{ outflow_now() }} as timestamp)
  )
