-- The email events that are consent facts (unsubscribes, spam reports, hard bounces), kept apart so that the
-- consent ledger never scans every email event. Incremental (delete+insert on event_id; on Spark a table rebuilt
-- whole): a daily run reads the staged email events stg_email__events can have restaged since this model's mark
-- (the newest occurred_at it read, less incremental_lookback_days: staging restages from the newest it holds less
-- the lookback), and writes those that are new or changed (written_at: the run's stamp). An event that was a fact
-- and is no longer one (changed in place within the lookback) is written with is_fact false, so the ledger reads
-- its address again.
{{ config(
    materialized=('table' if target.type == 'spark' else 'incremental'),
    unique_key='event_id',
    incremental_strategy='delete+insert',
    tags=['derived'],
    post_hook=([] if target.type == 'spark' else [
        "{{ outflow_watermark_set({'staged': ['stg_email__events', 'occurred_at']}, 'int_consent__marks') }}",
    ])
) }}

with staged as (
    select
        event_id,
        email_canonical,
        case when event_type = 'bounce' then 'hard_bounce' else event_type end as fact_kind,
        campaign_id,
        occurred_at
    from {{ ref('stg_email__events') }}
    where (event_type in ('unsubscribe', 'spam_report') or (event_type = 'bounce' and bounce_type = 'hard'))
    {%- if is_incremental() %}
      and occurred_at >= {{ outflow_watermark('staged', 'int_consent__marks') }}
        - interval '{{ var("incremental_lookback_days") | int }} days'
    {%- endif %}
)

{%- if is_incremental() %}
,

restaged_ids as (
    select event_id
    from {{ ref('stg_email__events') }}
    where occurred_at >= {{ outflow_watermark('staged', 'int_consent__marks') }}
        - interval '{{ var("incremental_lookback_days") | int }} days'
)

-- new or changed facts
select event_id, email_canonical, fact_kind, campaign_id, occurred_at, true as is_fact,
    {{ outflow_run_stamp() }} as written_at
from (
    select event_id, email_canonical, fact_kind, campaign_id, occurred_at from staged
    except
    select event_id, email_canonical, fact_kind, campaign_id, occurred_at from {{ this }} where is_fact
) as written
union all
-- stored facts restaged as something else
select stored.event_id, stored.email_canonical, stored.fact_kind, stored.campaign_id, stored.occurred_at,
    false as is_fact, {{ outflow_run_stamp() }} as written_at
from {{ this }} as stored
where stored.is_fact
  and stored.event_id in (select event_id from restaged_ids)
  and stored.event_id not in (select event_id from staged)

{%- else %}

select event_id, email_canonical, fact_kind, campaign_id, occurred_at, true as is_fact,
    {{ outflow_run_stamp() }} as written_at
from staged

{%- endif %}
