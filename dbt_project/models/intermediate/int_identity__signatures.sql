{#- One row per identity signature: a source and the set of identifiers its records carry. A record's person
    depends only on these (see int_identity__signature_persons), so the graph is built on signatures rather than
    on records: 1.5M web events carry about 0.34M distinct (cookie, user id, email), 1.6M email events 82k
    emails, at 100k people. Each signature keeps its natural columns (what its consumers join on), how many
    records carry it, when they were first and last seen, its first record's id (`signature_id`,
    '<source>:' || the smallest record id: unique, and the smallest record id of the signature as the per-record
    models wrote it) and `loaded_at`, the newest load key of its records (web: received_at; email: occurred_at,
    the staging models' keys; null for the other sources). CRM contacts and orders stay one signature per record
    (record_key: contact_id, order_id).

    Incremental, keyed by load time (docs/incremental.md): a run regroups only the web and email signatures whose
    records may have changed since the last run: the natural keys of the records staged within
    incremental_lookback_days of the newest load key already counted (the window the staging models restage), and
    the stored signatures that had a record in that window. Each is recomputed from every staged record of its key
    (a semi-join), so a restaged record is never counted twice and signature_id stays the smallest record id.
    CRM contacts and orders change in place and consent events are few, so those signatures are recomputed whole.
    A stored signature recomputed under another id, or left without records, is written back with no records
    and removed by the post-hook (delete+insert by signature_id). On Spark a table rebuilt whole. -#}
{{ config(
    materialized=('table' if target.type == 'spark' else 'incremental'),
    unique_key='signature_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    tags=['derived'],
    post_hook=([] if target.type == 'spark' else ["delete from {{ this }} where records = 0"])
) }}

{%- set web_key = ['cookie_id', 'user_id', 'email_canonical'] %}

with
{%- if is_incremental() %}
since as (
    -- per source, the newest load key the last run counted, less the lookback: staged rows from there on may be
    -- new or restaged
    select
        {%- for source in ['web', 'email'] %}
        (select coalesce(max(loaded_at), cast('1900-01-01' as timestamp)) from {{ this }} where source = '{{ source }}')
            - interval '{{ var("incremental_lookback_days") | int }} days' as {{ source }}{{ ',' if not loop.last }}
        {%- endfor %}
),

web_touched as (
    select cookie_id, user_id, email_canonical
    from {{ ref('stg_web__events') }}
    where received_at >= (select web from since)
        and (cookie_id is not null or user_id is not null or email_canonical is not null)
    union
    select cookie_id, user_id, email_canonical
    from {{ this }}
    where source = 'web' and loaded_at >= (select web from since)
),

web_records as (
    select web.*
    from {{ ref('stg_web__events') }} as web
    inner join web_touched as touched on {{ outflow_same_signature('touched', 'web', web_key) }}
),

email_touched as (
    select email_canonical
    from {{ ref('stg_email__events') }}
    where occurred_at >= (select email from since) and email_canonical is not null
    union
    select email_canonical from {{ this }} where source = 'email' and loaded_at >= (select email from since)
),

email_records as (
    select *
    from {{ ref('stg_email__events') }}
    where email_canonical in (select email_canonical from email_touched)
),
{%- else %}
web_records as (
    select * from {{ ref('stg_web__events') }}
),

email_records as (
    select * from {{ ref('stg_email__events') }}
),
{%- endif %}

web as (
    select
        'web:' || min(event_id) as signature_id, cookie_id, user_id, email_canonical,
        count(*) as records, min(occurred_at) as first_seen_at, max(occurred_at) as last_seen_at,
        max(received_at) as loaded_at
    from web_records
    where cookie_id is not null or user_id is not null or email_canonical is not null
    group by cookie_id, user_id, email_canonical
),

email as (
    select
        'email:' || min(event_id) as signature_id, email_canonical,
        count(*) as records, min(occurred_at) as first_seen_at, max(occurred_at) as last_seen_at
    from email_records
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
),

signatures as (
    select
        'crm' as source, 'crm:' || contact_id as signature_id, contact_id as record_key,
        cast(null as varchar) as cookie_id, cast(null as varchar) as user_id, email_canonical,
        {{ phone_identifier('phone_e164', 'phone_extension') }} as phone,
        cast(null as varchar) as identifier_type, cast(null as varchar) as identifier_value,
        cast(1 as bigint) as records, updated_at as first_seen_at, updated_at as last_seen_at,
        cast(null as timestamp) as loaded_at
    from {{ ref('stg_crm__contacts') }}
    union all
    select
        'order', 'order:' || order_id, order_id, null, user_id, email_canonical,
        {{ phone_identifier('phone_e164', 'phone_extension') }}, null, null,
        cast(1 as bigint), ordered_at, ordered_at, null
    from {{ ref('stg_shop__orders') }}
    where email_canonical is not null or phone_e164 is not null or user_id is not null
    union all
    select
        'web', signature_id, null, cookie_id, user_id, email_canonical, null, null, null,
        records, first_seen_at, last_seen_at, loaded_at
    from web
    union all
    select
        'email', signature_id, null, null, null, email_canonical, null, null, null,
        records, first_seen_at, last_seen_at, last_seen_at
    from email
    union all
    select
        'consent', signature_id, null, null, null, null, null, identifier_type, identifier_value,
        records, first_seen_at, last_seen_at, null
    from consent
)

select * from signatures
{%- if is_incremental() %}
union all
-- the stored signatures recomputed above (every CRM, order and consent one; the touched web and email ones) that
-- are gone or now have another id: written with no records, which the post-hook deletes
select
    stored.source, stored.signature_id, stored.record_key, stored.cookie_id, stored.user_id,
    stored.email_canonical, stored.phone, stored.identifier_type, stored.identifier_value,
    cast(0 as bigint), stored.first_seen_at, stored.last_seen_at, stored.loaded_at
from {{ this }} as stored
left join signatures as recomputed on recomputed.signature_id = stored.signature_id
left join web_touched on stored.source = 'web' and {{ outflow_same_signature('web_touched', 'stored', web_key) }}
left join email_touched on stored.source = 'email' and email_touched.email_canonical = stored.email_canonical
where recomputed.signature_id is null
    and (
        stored.source in ('crm', 'order', 'consent')
        or web_touched.cookie_id is not null or web_touched.user_id is not null
        or web_touched.email_canonical is not null or email_touched.email_canonical is not null
    )
{%- endif %}
