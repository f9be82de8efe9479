{#- One person-level timeline: web, email and order events, each tied to its person.
    Incremental (delete+insert by source and event_id): a run reads only the candidate events, each a staged event
    that may differ from its stored row: web and email events restaged since fct_events last ran (within the
    staging lookback of the newest ones it had read), events whose signature's person changed since then
    (int_identity__signature_persons.person_changed_at, and the signatures removed since), and every order
    (restaged whole: a status changes in place). The events of those moved signatures are written as they are now,
    without a comparison (their person changed, or they have none any more). The restaged events and the orders are
    compared with the stored rows they can have, found without reading every stored event: the web and email
    events that occurred since the first restaged one (a constant range the scan filters on) and the orders; the new
    ones and those with any column changed are written. An event whose record no longer has a person is written
    with a null person_id, then removed by the post-hook, as a full build leaves it out. What it read is kept in
    outflow_watermarks (post-hook, written only when the run succeeded), and the removed signatures it has read are
    dropped from their log. The strategy keeps the keys it wrote (macros/outflow_written_keys.sql), so its uniqueness
    test checks those against every row. Orders are read from stg_shop__orders_base, without the buyer's contact
    lookups. See docs/incremental.md. On Spark (Parquet: no `delete`) it is a table rebuilt whole. -#}
{{ config(
    materialized=('table' if target.type == 'spark' else 'incremental'),
    unique_key=['source', 'event_id'],
    incremental_strategy='outflow_delete_insert',
    on_schema_change='fail',
    tags=['derived'],
    pre_hook=([] if target.type == 'spark' else ["{{ outflow_written_keys_reset() }}"]),
    post_hook=([] if target.type == 'spark' else [
        "delete from {{ this }} where person_id is null",
        "{{ outflow_watermark_set({
            'person_changed_at': ['int_identity__signature_persons', 'person_changed_at'],
            'web_received_at': ['stg_web__events', 'received_at'],
            'email_occurred_at': ['stg_email__events', 'occurred_at'],
        }) }}",
        "{{ outflow_prune_removed_signatures('person_changed_at') }}",
    ])
) }}

{%- set signature_persons = ref('int_identity__signature_persons') %}
{#- the persons of one source's signatures; read where they are joined, not in a CTE that several joins share (a CTE
    read more than once is materialized: every signature written again) -#}
{%- set persons = "(select * from " ~ signature_persons ~ " where source = 'SOURCE')" %}

with
{% if is_incremental() -%}
{%- set lookback = "interval '" ~ (var('incremental_lookback_days') | int) ~ " days'" %}
{%- set web_since = outflow_watermark('web_received_at') ~ ' - ' ~ lookback %}
{%- set email_since = outflow_watermark('email_occurred_at') ~ ' - ' ~ lookback %}
{#- the first occurred_at of the restaged web and email events, read before the query and written into it as
    constants, so that the engine filters the stored rows by them as it scans (a subquery is not pushed into the
    scan); none when nothing was restaged -#}
{%- set first_occurred = {'web': none, 'email': none} %}
{%- if execute %}
{%- set found = run_query(
    "select (select min(occurred_at) from " ~ ref('stg_web__events') ~ " where received_at >= " ~ web_since ~ "), "
    ~ "(select min(occurred_at) from " ~ ref('stg_email__events') ~ " where occurred_at >= " ~ email_since ~ ")"
).rows[0] %}
{%- do first_occurred.update({'web': found[0], 'email': found[1]}) %}
{%- endif %}
moved as (
    -- the signatures whose person changed (or that were removed) since fct_events last ran
    select source, cookie_id, user_id, email_canonical from {{ signature_persons }}
    where person_changed_at > {{ outflow_watermark('person_changed_at') }}
    {%- if adapter.get_relation(database=signature_persons.database, schema=signature_persons.schema,
        identifier='int_identity__signature_persons_removed') %}
    union all
    select source, cookie_id, user_id, email_canonical from {{ outflow_removed_signatures(signature_persons.schema) }}
    where person_changed_at > {{ outflow_watermark('person_changed_at') }}
    {%- endif %}
),

-- `rewrite`: an event of a moved signature is written as it is now, without comparing it with its stored row (its
-- person changed, or it has none any more); the others (restaged within the lookback) are compared
staged_web as (
    select event_id, cookie_id, user_id, email_canonical, event_type, occurred_at, page_path, false as rewrite
    from {{ ref('stg_web__events') }}
    where received_at >= {{ web_since }}
    union all
    select
        web.event_id, web.cookie_id, web.user_id, web.email_canonical, web.event_type, web.occurred_at, web.page_path,
        true
    from {{ ref('stg_web__events') }} as web
    inner join (select distinct cookie_id, user_id, email_canonical from moved where source = 'web') as moved
        on {{ outflow_same_signature('moved', 'web', ['cookie_id', 'user_id', 'email_canonical']) }}
),

staged_email as (
    select event_id, email_canonical, event_type, occurred_at, campaign_id, false as rewrite
    from {{ ref('stg_email__events') }}
    where occurred_at >= {{ email_since }}
    union all
    select email.event_id, email.email_canonical, email.event_type, email.occurred_at, email.campaign_id, true
    from {{ ref('stg_email__events') }} as email
    inner join (select distinct email_canonical from moved where source = 'email') as moved
        on moved.email_canonical = email.email_canonical
),
{%- else %}
staged_web as (
    select event_id, cookie_id, user_id, email_canonical, event_type, occurred_at, page_path, false as rewrite
    from {{ ref('stg_web__events') }}
),

staged_email as (
    select event_id, email_canonical, event_type, occurred_at, campaign_id, false as rewrite
    from {{ ref('stg_email__events') }}
),
{%- endif %}

web as (
    -- each event tied to the person of its identity signature, on the events' natural columns (not a record id)
    select
        web.event_id, persons.person_id, 'web' as source, web.event_type, web.occurred_at,
        web.page_path, cast(null as varchar) as campaign_id, cast(null as {{ outflow_double() }}) as amount,
        web.rewrite
    from staged_web as web
    {%- if is_incremental() %}
    -- the web signatures whose cookie a staged event has (or none, as an event can): one column probed for each
    -- stored signature, instead of every signature's null-safe columns hashed for the join
    left join (
        select * from {{ signature_persons }}
        where source = 'web' and (cookie_id in (select cookie_id from staged_web) or cookie_id is null)
    ) as persons
    {%- else %}
    left join {{ persons.replace('SOURCE', 'web') }} as persons
    {%- endif %}
        on {{ outflow_same_signature('persons', 'web', ['cookie_id', 'user_id', 'email_canonical']) }}
),

email as (
    select
        email.event_id, persons.person_id, 'email', email.event_type, email.occurred_at,
        cast(null as varchar), email.campaign_id, cast(null as {{ outflow_double() }}), email.rewrite
    from staged_email as email
    left join {{ persons.replace('SOURCE', 'email') }} as persons
        on persons.email_canonical = email.email_canonical
),

orders as (
    select
        orders.order_id, persons.person_id, 'order', 'order_' || orders.status, orders.ordered_at,
        cast(null as varchar), cast(null as varchar), orders.amount, false
    from {{ ref('stg_shop__orders_base') }} as orders
    left join {{ persons.replace('SOURCE', 'order') }} as persons
        on persons.record_key = orders.order_id
),

events as (
    -- typed as the contract, so an incremental run's rows match the stored table's columns on every engine
    select
        event_id, cast(person_id as varchar) as person_id, cast(source as varchar) as source,
        cast(event_type as varchar) as event_type, occurred_at, page_path, campaign_id, amount, rewrite
    from (
        select * from web
        union all
        select * from email
        union all
        select * from orders
    ) as unioned
)

{%- set columns = 'event_id, person_id, source, event_type, occurred_at, page_path, campaign_id, amount' %}
{% if is_incremental() %},

-- the stored rows the compared events can have: the web and email events that occurred since the first restaged one
-- (found by a range on occurred_at: the engine reads the other columns only of the rows in range, and skips whole
-- blocks by their stored min and max), and every stored order. A web or email event whose stored row is not among
-- them (it has none, or its occurred_at changed in place) is written as new, whatever its person: the delete+insert
-- replaces a stored row by key, and one without a person is then removed (post-hook). An order without a stored row
-- has none (every stored order is read), so it is written only if it has a person, as a full build would.
stored as (
    {%- for source in ['web', 'email'] %}
    select {{ columns }} from {{ this }}
    where source = '{{ source }}' and
        {%- if first_occurred[source] is none %} 1 = 0
        {%- else %} occurred_at >= cast('{{ first_occurred[source] }}' as timestamp)
        {%- endif %}
    union all
    {%- endfor %}
    select {{ columns }} from {{ this }}
    where source = 'order'
)

select {{ columns }} from events where rewrite
union
select {% for c in columns.split(', ') %}events.{{ c }}{{ ', ' if not loop.last }}{% endfor %}
from events
left join stored on stored.source = events.source and stored.event_id = events.event_id
where not events.rewrite and case
    when stored.event_id is null then events.person_id is not null or events.source <> 'order'
    else stored.person_id is distinct from events.person_id
        or stored.event_type is distinct from events.event_type
        or stored.occurred_at is distinct from events.occurred_at
        or stored.page_path is distinct from events.page_path
        or stored.campaign_id is distinct from events.campaign_id
        or stored.amount is distinct from events.amount
end
{% else %}
select {{ columns }} from events where person_id is not null
{% endif %}
