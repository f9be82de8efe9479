{#- The golden record: one row per person. -#}
with identifiers as (
    select * from {{ ref('int_identity__identifiers') }} where person_id is not null
),

per_person as (
    select
        person_id,
        min(case when identifier_type = 'crm_id' then identifier_value end) as crm_id,
        min(case when identifier_type = 'user_id' then identifier_value end) as user_id,
        count(*) as identifier_count,
        bool_or(identifier_type <> 'cookie') as is_known,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at
    from identifiers
    group by person_id
),

golden as (
    {{ survivorship_pivot(ref('int_profiles__survivors'), {'employee_count': 'integer', 'birth_date': 'date'}) }}
)

select
    per_person.person_id,
    golden.email,
    {{ canonical_email('golden.email') }} as email_canonical,
    golden.phone,
    golden.first_name,
    golden.last_name,
    golden.company,
    golden.job_title,
    golden.industry,
    golden.employee_count,
    golden.country,
    countries.timezone,
    golden.city,
    golden.state,
    golden.postal_code,
    golden.gender,
    golden.birth_date,
    per_person.crm_id,
    per_person.user_id,
    cast(per_person.identifier_count as integer) as identifier_count,
    per_person.is_known,
    per_person.first_seen_at,
    per_person.last_seen_at
from per_person
left join golden using (person_id)
left join (select distinct iso2, timezone from {{ ref('country_codes') }}) as countries
    on countries.iso2 = golden.country
