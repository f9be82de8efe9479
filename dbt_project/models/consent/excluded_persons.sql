-- Persons on the global exclusion list (seed global_exclusions), matched through the identity graph after
-- the same normalisation as the identity graph (the email and phone lookups of the normalization step), or
-- directly on the profile's email / phone.
{{ config(materialized='table') }}

with exclusions as (
    select
        lower(trim(seed.identifier_type)) as identifier_type,
        case lower(trim(seed.identifier_type))
            -- a value the normalization step has not read yet (a dbt run without it) takes the same rules in
            -- SQL for a plain address or an E.164 number, so that an exclusion never waits for the step
            when 'email' then coalesce(
                emails.email_canonical,
                case when emails.reject_reason is null then {{ canonical_email('seed.identifier_value') }} end
            )
            else coalesce(
                phones.phone_e164,
                case when phones.reject_reason is null then regexp_replace(seed.identifier_value, '[^0-9+]', '', 'g') end
            )
        end as identifier_value,
        seed.reason
    from {{ ref('global_exclusions') }} as seed
    -- the lookup itself rather than stg_emails__normalized: each seed email is one of its distinct values anyway
    left join {{ source('outflow_identity', 'emails') }} as emails
        on lower(trim(seed.identifier_type)) = 'email' and emails.email_raw = seed.identifier_value
    left join {{ ref('stg_phones__e164') }} as phones
        on lower(trim(seed.identifier_type)) = 'phone' and phones.source = 'exclusion'
        and phones.phone_raw = seed.identifier_value
),

matches as (
    select i.person_id, e.reason
    from exclusions as e
    inner join {{ ref('int_identity__identifiers') }} as i
        on i.identifier_type = e.identifier_type and i.identifier_value = e.identifier_value
    where i.person_id is not null
    -- the profile's email and phone as two equi-joins: one join on `a or b` is a nested loop over every profile
    union all
    select p.person_id, e.reason
    from exclusions as e
    inner join {{ ref('dim_profiles') }} as p on p.email_canonical = e.identifier_value
    where e.identifier_type = 'email'
    union all
    select p.person_id, e.reason
    from exclusions as e
    inner join {{ ref('dim_profiles') }} as p on p.phone = e.identifier_value
    where e.identifier_type = 'phone'
)

select person_id, {{ outflow_string_agg('reason', "', '", distinct=true) }} as reasons
from matches
group by person_id
