-- Persons on the global exclusion list (seed global_exclusions), matched through the identity graph after
-- the same normalisation as the staging models, or directly on the profile's email / phone.
{{ config(materialized='table') }}

with exclusions as (
    select
        lower(trim(identifier_type)) as identifier_type,
        case lower(trim(identifier_type))
            when 'email' then {{ canonical_email('identifier_value') }}
            else regexp_replace(identifier_value, '[^0-9+]', '', 'g')
        end as identifier_value,
        reason
    from {{ ref('global_exclusions') }}
),

matches as (
    select i.person_id, e.reason
    from exclusions as e
    inner join {{ ref('int_identity__identifiers') }} as i
        on i.identifier_type = e.identifier_type and i.identifier_value = e.identifier_value
    where i.person_id is not null
    union all
    select p.person_id, e.reason
    from exclusions as e
    inner join {{ ref('dim_profiles') }} as p
        on (e.identifier_type = 'email' and p.email_canonical = e.identifier_value)
        or (e.identifier_type = 'phone' and p.phone = e.identifier_value)
)

select person_id, {{ outflow_string_agg('reason', "', '", distinct=true) }} as reasons
from matches
group by person_id
