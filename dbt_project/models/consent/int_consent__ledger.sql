-- Every consent fact, resolved to a person through the identity graph:
-- * raw consent events: the latest per identifier, purpose and channel;
-- * email unsubscribes and spam reports: revoke marketing on the email channel (latest per address);
-- * hard bounces: the address is undeliverable (status `suppressed`, all purposes, email channel);
-- * SMS opt-outs: a recipient who replied STOP, as the SMS destination reported it (int_consent__sms_opt_outs).
-- Identifiers the identity graph does not attribute to one person (blocked, shared) resolve to nobody.
{{ config(materialized='table') }}

with identifiers as (
    select identifier_type, identifier_value, person_id
    from {{ ref('int_identity__identifiers') }}
    where person_id is not null
),

consent_events as (
    select
        event_id as fact_id,
        identifier_type,
        identifier_value,
        purpose,
        channel,
        status,
        'consent_event' as fact_kind,
        source,
        occurred_at,
        row_number() over (
            partition by identifier_type, identifier_value, purpose, channel
            order by occurred_at desc nulls last, case status when 'revoked' then 0 else 1 end, event_id desc nulls last
        ) as fact_rank
    from {{ ref('stg_consent__events') }}
    where identifier_value is not null
),

email_facts as (
    select
        event_id as fact_id,
        'email' as identifier_type,
        email_canonical as identifier_value,
        case when event_type = 'bounce' then 'hard_bounce' else event_type end as fact_kind,
        campaign_id,
        occurred_at,
        row_number() over (
            partition by email_canonical, case when event_type = 'bounce' then 'hard_bounce' else event_type end
            order by occurred_at desc nulls last, event_id desc nulls last
        ) as fact_rank
    from {{ ref('stg_email__events') }}
    where email_canonical is not null
      and (event_type in ('unsubscribe', 'spam_report') or (event_type = 'bounce' and bounce_type = 'hard'))
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
