{#- Purchase occasions: a person's completed orders before now, grouped into occasions, the unit that customer-base
    analyses (RFM frequency, BG/NBD, Gamma-Gamma) count. By default an occasion is a calendar day: two orders on
    one day are one occasion (occasion_at = the start of that day). With var purchase_basket_window_minutes > 0,
    an order placed within that many minutes of the person's previous order joins its occasion instead
    (occasion_at = the occasion's first order). -#}
{%- set window_minutes = var('purchase_basket_window_minutes', 0) | int %}

with orders as (
    select person_id, occurred_at, coalesce(amount, 0) as amount
    from {{ ref('fct_events') }}
    where event_type = 'order_completed' and occurred_at < {{ outflow_now() }}
),

{% if window_minutes > 0 -%}
ordered as (
    select
        person_id,
        occurred_at,
        amount,
        lag(occurred_at) over (partition by person_id order by occurred_at) as previous_at
    from orders
),

numbered as (
    select
        person_id,
        occurred_at,
        amount,
        sum(
            case
                when previous_at is null or occurred_at > {{ dbt.dateadd('minute', window_minutes, 'previous_at') }}
                    then 1
                else 0
            end
        ) over (partition by person_id order by occurred_at rows between unbounded preceding and current row)
            as occasion_number
    from ordered
),

occasions as (
    select person_id, min(occurred_at) as occasion_at, sum(amount) as amount, count(*) as orders
    from numbered
    group by person_id, occasion_number
)
{%- else -%}
occasions as (
    select
        person_id,
        cast(cast(occurred_at as date) as timestamp) as occasion_at,
        sum(amount) as amount,
        count(*) as orders
    from orders
    group by person_id, cast(cast(occurred_at as date) as timestamp)
)
{%- endif %}

select
    person_id,
    cast(occasion_at as timestamp) as occasion_at,
    cast(amount as {{ outflow_double() }}) as amount,
    cast(orders as integer) as orders
from occasions
