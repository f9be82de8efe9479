with source as (
    select * from {{ source('raw', 'crm_contacts') }}
),

countries as (
    select * from {{ source('outflow_identity', 'countries') }}
),

timezones as (
    select iso2, min(timezone) as timezone from {{ ref('country_codes') }} group by iso2
),

emails as (
    select * from {{ source('outflow_identity', 'emails') }}
),

phones as (
    select * from {{ ref('stg_phones__e164') }} where source = 'crm'
)

select
    source.contact_id,
    coalesce(emails.email_address, {{ normalize_email('source.email') }}) as email,
    emails.email_canonical,
    nullif(trim(source.phone), '') as phone_raw,
    phones.phone_e164,
    phones.phone_extension,
    {{ normalize_name('source.first_name') }} as first_name,
    {{ normalize_name('source.last_name') }} as last_name,
    nullif(trim(source.company), '') as company,
    nullif(trim(source.job_title), '') as job_title,
    nullif(lower(trim(source.industry)), '') as industry,
    source.employee_count,
    countries.iso2 as country,
    timezones.timezone,
    {{ normalize_name('source.city') }} as city,
    nullif(upper(trim(source.state)), '') as state,
    nullif(trim(source.postal_code), '') as postal_code,
    nullif(lower(trim(source.gender)), '') as gender,
    cast(source.birth_date as date) as birth_date,
    source.created_at,
    source.updated_at
from source
left join countries on countries.country_raw = source.country
left join timezones on timezones.iso2 = countries.iso2
left join emails on emails.email_raw = source.email
left join phones
    on phones.phone_raw = source.phone
    and phones.country_raw is not distinct from source.country
