{#- One person-level timeline: web, email and order events, each tied to its person. -#}
with persons as (
    select * from {{ ref('int_identity__record_persons') }}
),

web as (
    select
        web.event_id, persons.person_id, 'web' as source, web.event_type, web.occurred_at,
        web.page_path, cast(null as varchar) as campaign_id, cast(null as {{ outflow_double() }}) as amount
    from {{ ref('stg_web__events') }} as web
    inner join persons on persons.record_id = 'web:' || web.event_id
),

email as (
    select
        email.event_id, persons.person_id, 'email', email.event_type, email.occurred_at,
        cast(null as varchar), email.campaign_id, cast(null as {{ outflow_double() }})
    from {{ ref('stg_email__events') }} as email
    inner join persons on persons.record_id = 'email:' || email.event_id
),

orders as (
    select
        orders.order_id, persons.person_id, 'order', 'order_' || orders.status, orders.ordered_at,
        cast(null as varchar), cast(null as varchar), orders.amount
    from {{ ref('stg_shop__orders') }} as orders
    inner join persons on persons.record_id = 'order:' || orders.order_id
)

select * from web
union all
select * from email
union all
select * from orders
