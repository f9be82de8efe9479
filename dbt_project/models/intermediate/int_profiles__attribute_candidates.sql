{#- Long format: the values each source offers for a golden-record field, one row per (person, field, source,
    value) with the observation survivorship prefers among that value's (the newest; the earliest for a field whose
    rule is `prefer: earliest`), so the winners are those of every observation. Only identifiers that identify
    exactly this person are offered (no role, junk or shared ones).
    Incremental (delete+insert on person_id; on Spark a table rebuilt whole): a run rewrites only the persons
    touched since it last ran (docs/incremental.md): the persons, then and now, of the signatures stamped since its
    mark or gone; the persons of web signatures with an email event received since its mark (less the staging
    lookback); the persons of CRM contacts, orders and phone consent events whose raw row's fingerprint is not a
    kept one (new, or changed in place: profiles_record_fingerprints, written once by the pre-hook), of the orders
    whose buyer's CRM contacts changed (their phone's country), and of the records whose email or phone became
    usable or unusable (kept apart); a consent event deleted touches its signature's person. The pre-hook writes
    the touched persons as a table of the run (profiles_candidates_touched), which the query reads. Each touched
    person also gets a tombstone row (no field; observed_at the run's stamp), which the post-hook logs in int_profiles__touched_persons
    and deletes (macros/profiles_incremental.sql). -#}
-- depends_on: {{ ref('int_identity__signatures') }}, {{ ref('stg_shop__order_countries') }}
-- depends_on: {{ ref('stg_shop__orders_base') }}, {{ ref('country_codes') }}, {{ ref('stg_consent__events') }}
{{ config(**profiles_person_config(pre_hook=["{{ profiles_candidates_pre_hook() }}"], post_hook=[
    "{{ profiles_candidates_post_hook() }}",
    "{{ outflow_watermark_set({
        'person_changed_at': ['int_identity__signature_persons', 'person_changed_at'],
        'web_received_at': ['stg_web__events', 'received_at'],
        'identifiers': ['int_identity__identifiers', 'written_at'],
    }, profiles_marks()) }}",
    ])) }}
{#- read only what changed: an incremental run with the record of what the last run read (else everything, and
    every stored person rewritten: a table from before this layout) -#}
{%- set touched_only = profiles_candidates_touched_only() %}
{%- set earliest = [] %}
{%- for field, rule in var('survivorship').items() if rule.prefer == 'earliest' %}
{%- do earliest.append("'" ~ field ~ "'") %}
{%- endfor %}

{#- the person of each identity signature, joined on the records' natural columns (not a record id); read where
    it is needed rather than as a CTE, which DuckDB and PostgreSQL would materialize whole for its many readers -#}
{%- set persons = ref('int_identity__signature_persons') %}

{{ profiles_usable_identifiers() }},

{%- if touched_only %}

touched_persons as (
    -- the touched persons, written by the pre-hook (profiles_candidates_touched)
    select person_id from {{ profiles_table('candidates_touched_now') }}
),

{%- elif is_incremental() %}

touched_persons as (
    -- a table from before this layout: every person, stored or now, is rewritten
    select person_id from {{ this }}
    union
    select person_id from {{ persons }} as persons
),
{%- endif %}

{%- if is_incremental() %}

touched_signatures as (
    -- the touched persons' signatures, read once for every part below
    select source, record_key, cookie_id, user_id, email_canonical, identifier_type, identifier_value, person_id
    from {{ persons }}
    where person_id in (select person_id from touched_persons)
),
{%- endif %}
{#- the signature persons the parts below read: the touched persons' alone on an incremental run -#}
{%- set persons = 'touched_signatures' if is_incremental() else persons %}

{#- an incremental run restages the touched persons' CRM contacts and orders alone (macros/staging_records.sql: the
    staging views' own SQL, restricted to their record keys first); a full build reads the views -#}
{%- set touched_records = "select record_key from touched_signatures where source = '%s'" %}

crm as (
    select persons.person_id, crm.*
    {%- if is_incremental() %}
    from ({{ stg_crm_contacts_select(touched_records | format('crm')) }}) as crm
    {%- else %}
    from {{ ref('stg_crm__contacts') }} as crm
    {%- endif %}
    inner join {{ persons }} as persons on persons.source = 'crm' and persons.record_key = crm.contact_id
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
    {%- if is_incremental() %}
    from ({{ stg_shop_orders_select(touched_records | format('order')) }}) as orders
    {%- else %}
    from {{ ref('stg_shop__orders') }} as orders
    {%- endif %}
    inner join {{ persons }} as persons on persons.source = 'order' and persons.record_key = orders.order_id
),

consent_phones as (
    select persons.person_id, consent.identifier_value as phone_e164, consent.occurred_at
    from {{ ref('stg_consent__events') }} as consent
    inner join {{ persons }} as persons
        on persons.source = 'consent'
        and {{ outflow_same_signature('persons', 'consent', ['identifier_type', 'identifier_value']) }}
    where consent.identifier_type = 'phone' and consent.identifier_value is not null
),

records as (
    -- every observation of the CRM, orders and consent events (of the touched persons)
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
),

{#- per (person, field, source, value): the observation survivorship prefers (max and min skip nulls, as its
    `nulls last` does) -#}
{%- set preferred -%}
    case when field in ({{ earliest | join(', ') if earliest else "''" }}) then min(observed_at)
        else max(observed_at) end
{%- endset %}
{%- set web_preferred = 'min' if var('survivorship').get('email', {}).get('prefer') == 'earliest' else 'max' %}

record_candidates as (
    select person_id, field, value, source, {{ preferred }} as observed_at
    from records
    group by person_id, field, source, value
),

{%- if is_incremental() %}

touched_web as (
    select cookie_id, user_id, email_canonical from touched_signatures where source = 'web'
),
{%- endif %}

web_values as (
    -- each raw email of a web signature, once, with its newest (or earliest) event
    select
        web.cookie_id, web.user_id, web.email_canonical, web.email,
        {{ web_preferred }}(web.occurred_at) as observed_at
    {%- if is_incremental() %}
    from (
        -- the events of the touched web signatures' emails first (a web candidate's email is never null)
        select * from {{ ref('stg_web__events') }}
        where email_canonical in (select email_canonical from touched_web)
    ) as web
    inner join touched_web on {{ outflow_same_signature('touched_web', 'web', ['cookie_id', 'user_id', 'email_canonical']) }}
    {%- else %}
    from {{ ref('stg_web__events') }} as web
    {%- endif %}
    where web.email_canonical in (select identifier_value from usable_emails)
    group by web.cookie_id, web.user_id, web.email_canonical, web.email
),

web_candidates as (
    select persons.person_id, 'email' as field, web.email as value, 'web' as source,
        {{ web_preferred }}(web.observed_at) as observed_at
    from web_values as web
    inner join {{ persons }} as persons
        on persons.source = 'web'
        and {{ outflow_same_signature('persons', 'web', ['cookie_id', 'user_id', 'email_canonical']) }}
    group by persons.person_id, web.email
)

{%- if is_incremental() %}
select * from record_candidates
union all
select * from web_candidates
union all
-- one tombstone per touched person: the post-hook logs it and deletes it
select person_id, cast(null as varchar), cast(null as varchar), cast(null as varchar), {{ profiles_touch_stamp() }}
from touched_persons
{%- else %}
select * from record_candidates
union all
select * from web_candidates
{%- endif %}
