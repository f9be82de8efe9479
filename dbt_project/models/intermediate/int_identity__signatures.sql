{#- One row per identity signature: a source and the set of identifiers its records carry. A record's person
    depends only on these (see int_identity__signature_persons), so the graph is built on signatures rather than
    on records: 1.5M web events carry about 0.34M distinct (cookie, user id, email), 1.6M email events 82k
    emails, at 100k people. Each signature keeps its natural columns (what its consumers join on), how many
    records carry it, when they were first and last seen, and its first record's id (`signature_id`,
    '<source>:' || the smallest record id: unique, and the smallest record id of the signature as the per-record
    models wrote it). CRM contacts and orders stay one signature per record (record_key: contact_id, order_id).

    Incremental, keyed by load time (docs/incremental.md). Web and email signatures keep `loaded_at`, the newest
    load key of their events (web: received_at; email: occurred_at, the staging models' keys), and the `settled_*`
    part of their counts: the events loaded more than incremental_lookback_days before the newest one, which the
    staging models never restage. A run reads only the staged events from the last run's settled boundary on (the
    newest stored loaded_at less the lookback): it adds those that settle now to the settled part and counts the
    rest anew, so a restaged event is never counted twice, and signature_id stays the smallest record id. A
    signature renamed (a late event with a smaller id) or left without events is written with no records under
    its stored id and removed by the post-hook (delete+insert by signature_id). CRM contacts and orders change in
    place (without a newer updated_at): a run restages only the CRM contacts, orders and consent events whose raw
    fingerprint is not the one the last run kept (new, changed or gone: outflow_identity_record_fingerprints, in
    macros/identity_signatures.sql), the orders whose buyer's CRM contacts changed (their phone's country) and the
    consent events of the identifiers such an event had or has (a consent signature groups them all), through the
    staging views' own SQL restricted to their keys (macros/staging_records.sql), and writes those whose signature
    is new or changed; a stored signature of a restaged record that is no longer computed is removed. Without kept
    fingerprints (a table from before them) every record is restaged. On Spark a table rebuilt whole.

    `written_at` is when a run last found the signature new or with other records, first or last sighting (a
    signature read again unchanged keeps its stamp), so int_identity__signature_occurrences rewrites only those.
    The post-hook logs the signatures it removes in <this>__removed (outflow_log_removed_identity_signatures). The
    strategy keeps the keys a run wrote (<this>__written), so the daily `unique` test checks those against every
    row (outflow_unique_written). -#}
{{ config(
    materialized=('table' if target.type == 'spark' else 'incremental'),
    unique_key='signature_id',
    incremental_strategy='outflow_delete_insert',
    on_schema_change='fail',
    tags=['derived'],
    meta={'outflow_layout_column': 'written_at'},
    pre_hook=([] if target.type == 'spark' else
        ["{{ outflow_written_keys_reset() }}", "{{ outflow_identity_fingerprints_prepare() }}"]),
    post_hook=([] if target.type == 'spark' else
        ["{{ outflow_log_removed_identity_signatures() }}", "{{ outflow_identity_fingerprints_keep() }}"])
) }}
-- depends_on: {{ source('raw', 'crm_contacts') }}, {{ source('raw', 'orders') }}, {{ source('raw', 'consent_events') }}
-- depends_on: {{ ref('stg_shop__orders_base') }}, {{ ref('country_codes') }}
-- depends_on: {{ source('outflow_identity', 'emails') }}, {{ source('outflow_identity', 'phones_e164') }}
-- depends_on: {{ source('outflow_identity', 'countries') }}

{#- this run's stamp: later than every stored one even if the clock went back -#}
{%- set stamp = outflow_identity_stamp('written_at') %}
{#- restage only the CRM contacts, orders and consent events that changed (their fingerprints kept) -#}
{%- set narrowed = outflow_identity_signatures_narrowed() %}

{%- set lookback = "interval '" ~ (var('incremental_lookback_days') | int) ~ " days'" %}
{%- set streams = [
    {'source': 'web', 'model': 'stg_web__events', 'loaded': 'received_at', 'key': ['cookie_id', 'user_id', 'email_canonical']},
    {'source': 'email', 'model': 'stg_email__events', 'loaded': 'occurred_at', 'key': ['email_canonical']},
] %}

with
{%- for s in streams %}
{%- set src = s.source %}
{%- if is_incremental() %}
{{ src }}_since as (
    -- the last run's settled boundary: the events loaded since may be new or restaged
    select coalesce(max(loaded_at), cast('1900-01-01' as timestamp)) - {{ lookback }} as since
    from {{ this }}
    where source = '{{ src }}'
),
{%- endif %}

{#- the events read: every one, or those loaded from the last run's settled boundary on. Written out twice (the
    rows, and their newest load key) rather than read from one CTE, which DuckDB would materialize: a copy of every
    event read -#}
{%- set window %}
    from {{ ref(s.model) }}
    where ({% for c in s.key %}{{ c }} is not null{{ ' or ' if not loop.last }}{% endfor %})
    {%- if is_incremental() %}
        and {{ s.loaded }} >= (select since from {{ src }}_since)
    {%- endif %}
{%- endset %}
{{ src }}_window as (
    select {{ s.key | join(', ') }}, event_id, occurred_at, {{ s.loaded }} as loaded
    {{- window }}
),

{{ src }}_settle as (
    -- this run's settled boundary: the newest load key of the events read less the lookback
    select max({{ s.loaded }}) - {{ lookback }} as before
    {{- window }}
),

{{ src }}_read as (
    -- per signature, the events read that settle now and those still within the lookback
    select
        {{ s.key | join(', ') }},
        count(case when loaded < before then 1 end) as settling_records,
        min(case when loaded < before then occurred_at end) as settling_first_seen_at,
        max(case when loaded < before then occurred_at end) as settling_last_seen_at,
        min(case when loaded < before then event_id end) as settling_first_record,
        max(case when loaded < before then loaded end) as settling_loaded_at,
        count(case when loaded >= before then 1 end) as recent_records,
        min(case when loaded >= before then occurred_at end) as recent_first_seen_at,
        max(case when loaded >= before then occurred_at end) as recent_last_seen_at,
        min(case when loaded >= before then event_id end) as recent_first_record,
        max(loaded) as loaded_at
    from {{ src }}_window
    cross join {{ src }}_settle
    group by {{ s.key | join(', ') }}
),

{{ src }}_merged as (
    select
        {%- for c in s.key %}
        {%- if is_incremental() %}
        case when fresh.loaded_at is not null then fresh.{{ c }} else stored.{{ c }} end as {{ c }},
        {%- else %}
        fresh.{{ c }},
        {%- endif %}
        {%- endfor %}
        {%- if is_incremental() %}
        stored.signature_id as stored_id,
        stored.records as stored_records,
        stored.first_seen_at as stored_first_seen_at,
        stored.last_seen_at as stored_last_seen_at,
        stored.written_at as stored_written_at,
        coalesce(stored.settled_records, 0) + coalesce(fresh.settling_records, 0) as settled_records,
        least(stored.settled_first_seen_at, fresh.settling_first_seen_at) as settled_first_seen_at,
        greatest(stored.settled_last_seen_at, fresh.settling_last_seen_at) as settled_last_seen_at,
        least(stored.settled_first_record, fresh.settling_first_record) as settled_first_record,
        greatest(stored.settled_loaded_at, fresh.settling_loaded_at) as settled_loaded_at,
        greatest(stored.settled_loaded_at, fresh.loaded_at) as loaded_at,
        {%- else %}
        cast(null as varchar) as stored_id,
        cast(null as bigint) as stored_records,
        cast(null as timestamp) as stored_first_seen_at,
        cast(null as timestamp) as stored_last_seen_at,
        cast(null as timestamp) as stored_written_at,
        fresh.settling_records as settled_records,
        fresh.settling_first_seen_at as settled_first_seen_at,
        fresh.settling_last_seen_at as settled_last_seen_at,
        fresh.settling_first_record as settled_first_record,
        fresh.settling_loaded_at as settled_loaded_at,
        fresh.loaded_at,
        {%- endif %}
        coalesce(fresh.recent_records, 0) as recent_records,
        fresh.recent_first_seen_at,
        fresh.recent_last_seen_at,
        fresh.recent_first_record
    from {{ src }}_read as fresh
    {%- if is_incremental() %}
    -- the stored signatures read again: those with events in the window now, or then (records not yet settled)
    full outer join (select * from {{ this }} where source = '{{ src }}') as stored
        on {{ outflow_same_signature('fresh', 'stored', s.key) }}
    where fresh.loaded_at is not null or stored.records > stored.settled_records
    {%- endif %}
),

{{ src }} as (
    select
        *,
        settled_records + recent_records as records,
        least(settled_first_seen_at, recent_first_seen_at) as first_seen_at,
        greatest(settled_last_seen_at, recent_last_seen_at) as last_seen_at,
        '{{ src }}:' || least(settled_first_record, recent_first_record) as signature_id
    from {{ src }}_merged
),
{%- endfor %}

{%- if narrowed %}

records_changed as (
    -- the CRM contacts, orders and consent events new, changed in place or gone since the last run, with their
    -- identifier now and as kept (written by the pre-hook: outflow_identity_fingerprints_prepare)
    select source, record_key, fingerprint, identifier_type, identifier_value, kept_identifier_type,
        kept_identifier_value
    from {{ outflow_identity_fingerprints('_changed') }}
),

crm_keys as (
    select record_key from records_changed where source = 'crm'
),

order_keys as (
    select record_key from records_changed where source = 'order'
    union
    -- orders whose buyer's CRM contacts changed, now or as kept: the country their phone is read in
    select order_id from {{ source('raw', 'orders') }}
    where {{ normalize_email('email') }} in (
        select identifier_value from records_changed where source = 'crm'
        union all
        select kept_identifier_value from records_changed where source = 'crm'
    )
),

consent_touched as (
    -- the identifiers of the consent events new, changed or gone, now and as kept: their signatures group anew
    select identifier_type, identifier_value from records_changed
    where source = 'consent' and identifier_value is not null
    union
    select kept_identifier_type, kept_identifier_value from records_changed
    where source = 'consent' and kept_identifier_value is not null
),

consent_keys as (
    -- every consent event of those identifiers: the kept ones (those gone or changed restage to nothing or to
    -- their identifier now) and those new or changed
    select kept.record_key
    from {{ outflow_identity_fingerprints() }} as kept
    inner join consent_touched as touched
        on touched.identifier_type = kept.identifier_type and touched.identifier_value = kept.identifier_value
    where kept.source = 'consent'
    union
    select changed.record_key
    from records_changed as changed
    inner join consent_touched as touched
        on touched.identifier_type = changed.identifier_type and touched.identifier_value = changed.identifier_value
    where changed.source = 'consent' and changed.fingerprint is not null
),
{%- endif %}

consent as (
    select
        'consent:' || min(event_id) as signature_id, identifier_type, identifier_value,
        count(*) as records, min(occurred_at) as first_seen_at, max(occurred_at) as last_seen_at
    {%- if narrowed %}
    from ({{ stg_consent_events_select('select record_key from consent_keys') }}) as staged
    {%- else %}
    from {{ ref('stg_consent__events') }}
    {%- endif %}
    where identifier_value is not null
    group by identifier_type, identifier_value
),

record_signatures as (
    -- the CRM, order and consent signatures: of every record, or of those restaged
    select
        'crm' as source, 'crm:' || contact_id as signature_id, contact_id as record_key,
        cast(null as varchar) as cookie_id, cast(null as varchar) as user_id, email_canonical,
        {{ phone_identifier('phone_e164', 'phone_extension') }} as phone,
        cast(null as varchar) as identifier_type, cast(null as varchar) as identifier_value,
        cast(1 as bigint) as records, updated_at as first_seen_at, updated_at as last_seen_at,
        cast(null as timestamp) as loaded_at, cast(null as bigint) as settled_records,
        cast(null as timestamp) as settled_first_seen_at, cast(null as timestamp) as settled_last_seen_at,
        cast(null as varchar) as settled_first_record, cast(null as timestamp) as settled_loaded_at,
        {{ stamp }} as written_at
    {%- if narrowed %}
    from ({{ stg_crm_contacts_select('select record_key from crm_keys') }}) as crm
    {%- else %}
    from {{ ref('stg_crm__contacts') }}
    {%- endif %}
    union all
    select
        'order', 'order:' || order_id, order_id, null, user_id, email_canonical,
        {{ phone_identifier('phone_e164', 'phone_extension') }}, null, null,
        cast(1 as bigint), ordered_at, ordered_at, null, null, null, null, null, null, {{ stamp }}
    {%- if narrowed %}
    from ({{ stg_shop_orders_select('select record_key from order_keys') }}) as orders
    {%- else %}
    from {{ ref('stg_shop__orders') }}
    {%- endif %}
    where email_canonical is not null or phone_e164 is not null or user_id is not null
    union all
    select
        'consent', signature_id, null, null, null, null, null, identifier_type, identifier_value,
        records, first_seen_at, last_seen_at, null, null, null, null, null, null, {{ stamp }}
    from consent
),

event_signatures as (
    -- the web and email signatures: every one, or those read again
    {%- for s in streams %}
    {%- if not loop.first %}
    union all
    {%- endif %}
    select
        '{{ s.source }}' as source, signature_id, cast(null as varchar) as record_key,
        {%- for c in ['cookie_id', 'user_id', 'email_canonical'] %}
        {{ c if c in s.key else 'cast(null as varchar)' }} as {{ c }},
        {%- endfor %}
        cast(null as varchar) as phone, cast(null as varchar) as identifier_type,
        cast(null as varchar) as identifier_value, records, first_seen_at, last_seen_at, loaded_at, settled_records,
        settled_first_seen_at, settled_last_seen_at, settled_first_record, settled_loaded_at,
        -- the stored stamp when its records and sightings are those stored
        case
            when stored_id = signature_id and stored_records = records and stored_first_seen_at = first_seen_at
                and stored_last_seen_at = last_seen_at
                then stored_written_at
            else {{ stamp }}
        end as written_at
    from {{ s.source }}
    where records > 0
    {%- endfor %}
)

select record_signatures.* from record_signatures
{%- if not is_incremental() %}
union all
select * from event_signatures
{%- else %}
-- the CRM, order and consent ones that are new or changed (compared with the stored rows of their ids alone: a
-- join built on every stored row would hold them all while the web and email joins hold theirs), and the web and
-- email signatures read again
left join (
    select * from {{ this }} where signature_id in (select signature_id from record_signatures)
) as stored
    on stored.signature_id = record_signatures.signature_id
where stored.signature_id is null
    {%- for c in ['record_key', 'user_id', 'email_canonical', 'phone', 'identifier_type', 'identifier_value',
        'records', 'first_seen_at', 'last_seen_at'] %}
    or record_signatures.{{ c }} is distinct from stored.{{ c }}
    {%- endfor %}
union all
select * from event_signatures
-- stored signatures written again with no records, which the post-hook deletes: web and email ones read again
-- that are gone or renamed, and CRM, order and consent ones (of the records restaged) no longer there
union all
select
    stored.source, stored.signature_id, stored.record_key, stored.cookie_id, stored.user_id,
    stored.email_canonical, stored.phone, stored.identifier_type, stored.identifier_value, cast(0 as bigint),
    stored.first_seen_at, stored.last_seen_at, stored.loaded_at, stored.settled_records,
    stored.settled_first_seen_at, stored.settled_last_seen_at, stored.settled_first_record, stored.settled_loaded_at,
    {{ stamp }}
from {{ this }} as stored
where stored.signature_id in (
    select stored_id from web where records = 0 or signature_id <> stored_id
    union all
    select stored_id from email where records = 0 or signature_id <> stored_id
    union all
    select stored.signature_id
    {%- if narrowed %}
    from (
        select stored.signature_id
        from {{ this }} as stored
        inner join crm_keys on stored.source = 'crm' and stored.record_key = crm_keys.record_key
        union all
        select stored.signature_id
        from {{ this }} as stored
        inner join order_keys on stored.source = 'order' and stored.record_key = order_keys.record_key
        union all
        select stored.signature_id
        from {{ this }} as stored
        inner join consent_touched as touched
            on stored.source = 'consent' and stored.identifier_type = touched.identifier_type
            and stored.identifier_value = touched.identifier_value
    ) as stored
    {%- else %}
    from (select signature_id from {{ this }} where source in ('crm', 'order', 'consent')) as stored
    {%- endif %}
    left join record_signatures on record_signatures.signature_id = stored.signature_id
    where record_signatures.signature_id is null
)
{%- endif %}
