{#- One row per identity signature: a source and the set of identifiers its records carry. A record's person
    depends only on these (see int_identity__signature_persons), so the graph is built on signatures rather than
    on records: 1.5M web events carry about 0.34M distinct (cookie, user id, email), 1.6M email events 82k
    emails, at 100k people. Each signature keeps its natural columns (what its consumers join on), how many
    records carry it, when they were first and last seen, and its first record's id (`signature_id`,
    '<source>:' || the smallest record id: unique, and the smallest record id of the signature as the per-record
    models wrote it). CRM contacts and orders stay one signature per record (record_key: contact_id, order_id). -#}
with web as (
    select
        'web:' || min(event_id) as signature_id, cookie_id, user_id, email_canonical,
        count(*) as records, min(occurred_at) as first_seen_at, max(occurred_at) as last_seen_at
    from {{ ref('stg_web__events') }}
    where cookie_id is not null or user_id is not null or email_canonical is not null
    group by cookie_id, user_id, email_canonical
),

email as (
    select
        'email:' || min(event_id) as signature_id, email_canonical,
        count(*) as records, min(occurred_at) as first_seen_at, max(occurred_at) as last_seen_at
    from {{ ref('stg_email__events') }}
    where email_canonical is not null
    group by email_canonical
),

consent as (
    select
        'consent:' || min(event_id) as signature_id, identifier_type, identifier_value,
        count(*) as records, min(occurred_at) as first_seen_at, max(occurred_at) as last_seen_at
    from {{ ref('stg_consent__events') }}
    where identifier_value is not null
    group by identifier_type, identifier_value
)

select
    'crm' as source, 'crm:' || contact_id as signature_id, contact_id as record_key,
    cast(null as varchar) as cookie_id, cast(null as varchar) as user_id, email_canonical,
    {{ phone_identifier('phone_e164', 'phone_extension') }} as phone,
    cast(null as varchar) as identifier_type, cast(null as varchar) as identifier_value,
    cast(1 as bigint) as records, updated_at as first_seen_at, updated_at as last_seen_at
from {{ ref('stg_crm__contacts') }}
union all
select
    'order', 'order:' || order_id, order_id, null, user_id, email_canonical,
    {{ phone_identifier('phone_e164', 'phone_extension') }}, null, null,
    cast(1 as bigint), ordered_at, ordered_at
from {{ ref('stg_shop__orders') }}
where email_canonical is not null or phone_e164 is not null or user_id is not null
union all
select 'web', signature_id, null, cookie_id, user_id, email_canonical, null, null, null, records, first_seen_at, last_seen_at
from web
union all
select 'email', signature_id, null, null, null, email_canonical, null, null, null, records, first_seen_at, last_seen_at
from email
union all
select 'consent', signature_id, null, null, null, null, null, identifier_type, identifier_value, records, first_seen_at, last_seen_at
from consent
