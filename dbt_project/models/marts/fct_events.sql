{#- One person-level timeline: web, email and order events, each tied to its person.
    Incremental (delete+insert by source and event_id): a run writes only the events that are new or differ from
    the stored row: an event whose record's person changed (a merge or split of the identity step), an order
    whose status changed (orders are restaged whole: their status changes in place). An event whose record no
    longer has a person is written with a null person_id, then removed by the post-hook, as a full build would
    leave it out. See docs/incremental.md. On Spark (Parquet: no `delete`) it is a table rebuilt whole. -#}
{{ config(
    materialized=('table' if target.type == 'spark' else 'incremental'),
    unique_key=['source', 'event_id'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    tags=['derived'],
    post_hook=([] if target.type == 'spark' else ["delete from {{ this }} where person_id is null"])
) }}

with persons as (
    -- the person of each identity signature, joined on the events' natural columns (not a record id)
    select * from {{ ref('int_identity__signature_persons') }}
),

web as (
    select
        web.event_id, persons.person_id, 'web' as source, web.event_type, web.occurred_at,
        web.page_path, cast(null as varchar) as campaign_id, cast(null as {{ outflow_double() }}) as amount
    from {{ ref('stg_web__events') }} as web
    left join (select * from persons where source = 'web') as persons
        on {{ outflow_same_signature('persons', 'web', ['cookie_id', 'user_id', 'email_canonical']) }}
),

email as (
    select
        email.event_id, persons.person_id, 'email', email.event_type, email.occurred_at,
        cast(null as varchar), email.campaign_id, cast(null as {{ outflow_double() }})
    from {{ ref('stg_email__events') }} as email
    left join (select * from persons where source = 'email') as persons
        on persons.email_canonical = email.email_canonical
),

orders as (
    select
        orders.order_id, persons.person_id, 'order', 'order_' || orders.status, orders.ordered_at,
        cast(null as varchar), cast(null as varchar), orders.amount
    from {{ ref('stg_shop__orders') }} as orders
    left join (select * from persons where source = 'order') as persons
        on persons.record_key = orders.order_id
),

events as (
    -- typed as the contract, so an incremental run's rows match the stored table's columns on every engine
    select
        event_id, cast(person_id as varchar) as person_id, cast(source as varchar) as source,
        cast(event_type as varchar) as event_type, occurred_at, page_path, campaign_id, amount
    from (
        select * from web
        union all
        select * from email
        union all
        select * from orders
    ) as unioned
)

{% if is_incremental() %}
select events.*
from events
left join {{ this }} as stored on stored.source = events.source and stored.event_id = events.event_id
where case
    when stored.event_id is null then events.person_id is not null
    else stored.person_id is distinct from events.person_id
        or stored.event_type is distinct from events.event_type
        or stored.occurred_at is distinct from events.occurred_at
        or stored.page_path is distinct from events.page_path
        or stored.campaign_id is distinct from events.campaign_id
        or stored.amount is distinct from events.amount
end
{% else %}
select * from events where person_id is not null
{% endif %}
