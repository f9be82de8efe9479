-- SMS opt-outs fed back by the SMS destination: Twilio refuses a message to a recipient who replied STOP
-- (error 21610), and the sync engine records that row as rejected with `21610 <E.164 number>: <message>`
-- (activations/destinations/twilio.py). Each such number revokes SMS consent, for every purpose, from the
-- time of the refusal: the consent ledger reads these facts like raw consent events. Before the first sync the
-- engine's table does not exist and this is empty (macro outflow_sync_table).
-- Read-only: only the sync engine writes schema `outflow_sync`.
{{ config(materialized='table') }}

with rejected as (
    {{ outflow_sync_table('sync_rejected_rows', {
        'sync_name': 'varchar', 'key': 'varchar', 'last_error': 'varchar', 'last_failed_at': 'timestamp'
    }) }}
),

stops as (
    select
        sync_name || '|' || key as fact_id,
        split_part(last_error, ' ', 2) as phone,
        last_failed_at
    from rejected
    where last_error like '21610 +%'
),

latest as (
    select
        phone,
        fact_id,
        last_failed_at,
        row_number() over (partition by phone order by last_failed_at desc nulls last, fact_id) as rn
    from stops
    where phone like '+%'
)

select
    l.fact_id,
    'phone' as identifier_type,
    replace(l.phone, ':', '') as identifier_value,
    p.purpose,
    'sms' as channel,
    'revoked' as status,
    'sms_stop' as fact_kind,
    'twilio 21610 (recipient replied STOP)' as source,
    l.last_failed_at as occurred_at
from latest as l
cross join (values ('marketing'), ('transactional')) as p (purpose)
where l.rn = 1
