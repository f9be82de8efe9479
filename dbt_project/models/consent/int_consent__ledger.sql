-- Every consent fact, resolved to a person through the identity graph:
-- * raw consent events: the latest per identifier, purpose and channel;
-- * email unsubscribes and spam reports: revoke marketing on the email channel (latest per address);
-- * hard bounces: the address is undeliverable (status `suppressed`, all purposes, email channel);
-- * SMS opt-outs: a recipient who replied STOP, as the SMS destination reported it (int_consent__sms_opt_outs).
-- Identifiers the identity graph does not attribute to one person (blocked, shared) resolve to nobody.
-- Incremental (delete+insert on the identifier; on Spark a table rebuilt whole): a daily run rewrites every row
-- of each identifier touched since it last ran (docs/incremental.md, "The consent ledger and dim_consent on a
-- daily build"): an identifier whose person may have changed (the identity step's list, copied for this model:
-- int_consent__changed_identifiers), one with a consent event written since its mark (int_consent__events: new,
-- changed or gone, and the identifier of its stored rows), an email with an unsubscribe, spam report or hard bounce
-- written since (int_consent__email_events), and every SMS opt-out. For each it writes a marker row (no ledger_id)
-- per person its stored rows had; the post-hook logs those persons and the identifiers' persons now for
-- dim_consent, then deletes the markers (macros/consent_incremental.sql). Without marks, or when the list stands
-- for every identifier, every fact is computed again (the pre-hook empties the table first), with one marker
-- without identifier, so that dim_consent recomputes every person.
{{ config(
    materialized=('table' if target.type == 'spark' else 'incremental'),
    unique_key=['identifier_type', 'identifier_value'],
    incremental_strategy='delete+insert',
    tags=['derived'],
    pre_hook=([] if target.type == 'spark' else [
        "{{ consent_create_logs() }}",
        "{{ consent_empty_unless(consent_ledger_narrowed()) }}",
    ]),
    post_hook=([] if target.type == 'spark' else ["{{ consent_ledger_post_hook() }}"])
) }}

{%- set narrowed = consent_ledger_narrowed() %}

with identifiers as (
    select identifier_type, identifier_value, person_id
    from {{ ref('int_identity__identifiers') }}
    where person_id is not null
),

{%- if narrowed %}

written_events as (
    select event_id, identifier_type, identifier_value
    from {{ ref('int_consent__events') }}
    where written_at > {{ outflow_watermark('events', 'int_consent__marks') }}
),

touched as materialized (
    -- the identity step listed it (its person map row written, or it entered or left the graph)
    select identifier_type, identifier_value
    from {{ consent_log('int_consent__changed_identifiers') }}
    where identifier_type in ('email', 'phone')
    union
    -- a consent event written since the mark: its identifier, and that of its stored rows (changed or gone)
    select identifier_type, identifier_value from written_events where identifier_value is not null
    union
    select identifier_type, identifier_value
    from {{ this }}
    where fact_kind = 'consent_event' and fact_id in (select event_id from written_events)
    union
    -- an unsubscribe, spam report or hard bounce written since the mark (or no longer one)
    select 'email', email_canonical
    from {{ ref('int_consent__email_events') }}
    where written_at > {{ outflow_watermark('email_events', 'int_consent__marks') }} and email_canonical is not null
    union
    -- SMS opt-outs, few and updated in place by the sync engine: every one, now and as stored
    select identifier_type, identifier_value from {{ ref('int_consent__sms_opt_outs') }}
    union
    select identifier_type, identifier_value from {{ this }} where fact_kind = 'sms_stop'
),
{%- endif %}

consent_events as (
    select
        events.event_id as fact_id,
        events.identifier_type,
        events.identifier_value,
        events.purpose,
        events.channel,
        events.status,
        'consent_event' as fact_kind,
        events.source,
        events.occurred_at,
        row_number() over (
            partition by events.identifier_type, events.identifier_value, events.purpose, events.channel
            order by
                events.occurred_at desc nulls last,
                case events.status when 'revoked' then 0 else 1 end,
                events.event_id desc nulls last
        ) as fact_rank
    from {{ ref('int_consent__events') }} as events
    {%- if narrowed %}
    inner join touched
        on touched.identifier_type = events.identifier_type and touched.identifier_value = events.identifier_value
    {%- endif %}
    where events.identifier_value is not null
),

email_facts as (
    select
        events.event_id as fact_id,
        'email' as identifier_type,
        events.email_canonical as identifier_value,
        events.fact_kind,
        events.campaign_id,
        events.occurred_at,
        row_number() over (
            partition by events.email_canonical, events.fact_kind
            order by events.occurred_at desc nulls last, events.event_id desc nulls last
        ) as fact_rank
    from {{ ref('int_consent__email_events') }} as events
    {%- if narrowed %}
    inner join touched on touched.identifier_type = 'email' and touched.identifier_value = events.email_canonical
    {%- endif %}
    where events.is_fact and events.email_canonical is not null
),

email_consent as (
    select
        fact_id, identifier_type, identifier_value, 'marketing' as purpose, 'email' as channel,
        'revoked' as status, fact_kind, 'email campaign ' || campaign_id as source, occurred_at
    from email_facts
    where fact_rank = 1 and fact_kind in ('unsubscribe', 'spam_report')
    union all
    select
        fact_id, identifier_type, identifier_value, purpose, 'email' as channel,
        'suppressed' as status, fact_kind, 'email campaign ' || campaign_id as source, occurred_at
    from email_facts
    cross join (values ('marketing'), ('transactional')) as purposes (purpose)
    where fact_rank = 1 and fact_kind = 'hard_bounce'
),

facts as (
    select fact_id, identifier_type, identifier_value, purpose, channel, status, fact_kind, source, occurred_at
    from consent_events
    where fact_rank = 1
    union all
    select * from email_consent
    union all
    select fact_id, identifier_type, identifier_value, purpose, channel, status, fact_kind, source, occurred_at
    from {{ ref('int_consent__sms_opt_outs') }}
)

select
    md5(f.fact_kind || '|' || f.fact_id || '|' || f.purpose || '|' || i.person_id) as ledger_id,
    i.person_id,
    f.identifier_type,
    f.identifier_value,
    f.purpose,
    f.channel,
    f.status,
    f.fact_kind,
    f.source,
    f.fact_id,
    f.occurred_at
from facts as f
inner join identifiers as i
    on i.identifier_type = f.identifier_type and i.identifier_value = f.identifier_value
{%- if narrowed %}
union all
-- a marker per touched identifier and person its stored rows had (or none), for the post-hook
select distinct
    cast(null as varchar) as ledger_id,
    stored.person_id,
    touched.identifier_type,
    touched.identifier_value,
    cast(null as varchar) as purpose,
    cast(null as varchar) as channel,
    cast(null as varchar) as status,
    cast(null as varchar) as fact_kind,
    cast(null as varchar) as source,
    cast(null as varchar) as fact_id,
    cast(null as timestamp) as occurred_at
from touched
left join {{ this }} as stored
    on stored.identifier_type = touched.identifier_type and stored.identifier_value = touched.identifier_value
{%- elif target.type != 'spark' %}
union all
-- every fact was computed: one marker without identifier, so the post-hook logs every person for dim_consent
select
    cast(null as varchar), cast(null as varchar), cast(null as varchar), cast(null as varchar), cast(null as varchar),
    cast(null as varchar), cast(null as varchar), cast(null as varchar), cast(null as varchar), cast(null as varchar),
    cast(null as timestamp)
{%- endif %}
