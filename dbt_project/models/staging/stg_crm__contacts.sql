with source as (
    select * from {{ source('raw', 'crm_contacts') }}
),

countries as (
    select * from {{ ref('country_codes') }}
),

phones as (
    select * from {{ ref('stg_phones__e164') }}
)

select
    source.contact_id,
    {{ normalize_email('source.email') }} as email,
    {{ canonical_email('source.email') }} as email_canonical,
    nullif(trim(source.phone), '') as phone_raw,
    phones.phone_e164,
    {{ normalize_name('source.first_name') }} as first_name,
    {{ normalize_name('source.last_name') }} as last_name,
    nullif(trim(source.company), '') as company,
    nullif(trim(source.job_title), '') as job_title,
    nullif(lower(trim(source.industry)), '') as industry,
    source.employee_count,
    countries.iso2 as country,
    countries.timezone,
    {{ normalize_name('source.city') }} as city,
    nullif(upper(trim(source.state)), '') as state,
    nullif(trim(source.postal_code), '') as postal_code,
    nullif(lower(trim(source.gender)), '') as gender,
    cast(source.birth_date as date) as birth_date,
    source.created_at,
    source.updated_at
from source
left join countries on lower(trim(source.country)) = countries.alias
left join phones
    on phones.phone_raw = source.phone
    and phones.country_raw is not distinct from source.country
