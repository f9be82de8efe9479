-- RFM quintile scores for customers (1 = worst, 5 = best) used by the vip_rfm segment.
{{ config(materialized='table') }}

with customers as (
    select person_id, days_since_last_order, order_count, total_revenue
    from {{ ref('dim_profile_traits') }}
    where order_count > 0
)

select
    person_id,
    cast(ntile(5) over (order by days_since_last_order desc, person_id) as integer) as r_score,
    cast(ntile(5) over (order by order_count, person_id) as integer) as f_score,
    cast(ntile(5) over (order by total_revenue, person_id) as integer) as m_score,
    cast(
        ntile(5) over (order by days_since_last_order desc, person_id)
        + ntile(5) over (order by order_count, person_id)
        + ntile(5) over (order by total_revenue, person_id)
        as integer
    ) as rfm_score
from customers
