-- Audience members to sync (control and holdout groups removed), with the profile columns destinations need.
{{ config(materialized='table') }}

select
    a.audience,
    a.channel,
    a.purpose,
    p.person_id,
    p.email,
    p.phone,
    p.first_name,
    p.last_name,
    p.company,
    p.job_title,
    p.country,
    p.city,
    p.postal_code,
    t.lifecycle_stage,
    t.order_count,
    t.total_revenue,
    t.last_order_at,
    p.last_seen_at
from {{ ref('int_audience__assignments') }} as a
inner join {{ ref('dim_profiles') }} as p on p.person_id = a.person_id
left join {{ ref('dim_profile_traits') }} as t on t.person_id = a.person_id
where a.measurement_group = 'treatment'
