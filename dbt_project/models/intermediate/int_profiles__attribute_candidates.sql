{#- Long format: every value a source offers for a golden-record field, with when it was observed.
    Only identifiers that identify exactly this person are offered (no role, junk or shared ones). -#}
with persons as (
    -- the person of each identity signature, joined on the records' natural columns (not a record id)
    select * from {{ ref('int_identity__signature_persons') }}
),

usable_emails as (
    select identifier_value from {{ ref('int_identity__identifiers') }}
    where identifier_type = 'email' and person_id is not null
),

usable_phones as (
    select identifier_value from {{ ref('int_identity__identifiers') }}
    where identifier_type = 'phone' and person_id is not null
),

crm as (
    select persons.person_id, crm.*
    from {{ ref('stg_crm__contacts') }} as crm
    inner join persons on persons.source = 'crm' and persons.record_key = crm.contact_id
),

crm_wide as (
    select
        person_id,
        updated_at as observed_at,
        case when email_canonical in (select identifier_value from usable_emails) then email end as email,
        case when phone_e164 in (select identifier_value from usable_phones) then phone_e164 end as phone,
        first_name, last_name, company, job_title, industry,
        cast(employee_count as varchar) as employee_count,
        country, city, state, postal_code, gender,
        cast(birth_date as varchar) as birth_date
    from crm
),

{#- One row per (record, field) with a value: an unpivot, written as a union for every engine. #}
{%- set crm_fields = ['email', 'phone', 'first_name', 'last_name', 'company', 'job_title', 'industry',
    'employee_count', 'country', 'city', 'state', 'postal_code', 'gender', 'birth_date'] %}
crm_long as (
    {%- for f in crm_fields %}
    select person_id, observed_at, '{{ f }}' as field, {{ f }} as value from crm_wide where {{ f }} is not null
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

orders as (
    select persons.person_id, orders.*
    from {{ ref('stg_shop__orders') }} as orders
    inner join persons on persons.source = 'order' and persons.record_key = orders.order_id
),

consent_phones as (
    select persons.person_id, consent.identifier_value as phone_e164, consent.occurred_at
    from {{ ref('stg_consent__events') }} as consent
    inner join persons
        on persons.source = 'consent'
        and {{ outflow_same_signature('persons', 'consent', ['identifier_type', 'identifier_value']) }}
    where consent.identifier_type = 'phone' and consent.identifier_value is not null
),

web as (
    select persons.person_id, web.*
    from {{ ref('stg_web__events') }} as web
    inner join persons
        on persons.source = 'web'
        and {{ outflow_same_signature('persons', 'web', ['cookie_id', 'user_id', 'email_canonical']) }}
    where web.email_canonical is not null
)

select person_id, field, value, 'crm' as source, observed_at from crm_long
union all
select person_id, 'email', email, 'order', ordered_at from orders
where email_canonical in (select identifier_value from usable_emails)
union all
select person_id, 'phone', phone_e164, 'order', ordered_at from orders
where phone_e164 in (select identifier_value from usable_phones)
union all
select person_id, 'phone', phone_e164, 'consent', occurred_at from consent_phones
where phone_e164 in (select identifier_value from usable_phones)
union all
select person_id, 'email', email, 'web', occurred_at from web
where email_canonical in (select identifier_value from usable_emails)
