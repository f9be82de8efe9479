-- RFM scores for customers (1 = worst, 5 = best) used by the vip_rfm segment. Frequency counts purchase
-- occasions (distinct purchase days by default), not order rows.
-- Score = 1 + floor(5 x percent_rank), capped at 5: tied values share a score (a one-time buyer never gets
-- a high frequency score just because most customers bought once), and the scores follow the quintiles.
{{ config(materialized='table') }}

with customers as (
    select person_id, days_since_last_order, purchase_occasions, total_revenue
    from {{ ref('dim_profile_traits') }}
    where purchase_occasions > 0
),

scored as (
    select
        person_id,
        cast(least(5, 1 + floor(5 * percent_rank() over (order by days_since_last_order desc nulls last))) as integer)
            as r_score,
        cast(least(5, 1 + floor(5 * percent_rank() over (order by purchase_occasions))) as integer) as f_score,
        cast(least(5, 1 + floor(5 * percent_rank() over (order by total_revenue))) as integer) as m_score
    from customers
)

select person_id, r_score, f_score, m_score, r_score + f_score + m_score as rfm_score
from scored
