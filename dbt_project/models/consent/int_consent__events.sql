-- Every raw consent event, staged as stg_consent__events stages it, with the fingerprint of its raw row and when a
-- run last wrote it (written_at). The loader replaces raw.consent_events whole and an event carries no load time,
-- so a daily run fingerprints every raw event and restages only those new or changed since (their fingerprint is
-- not the stored one); an event gone from the raw table is written without identifier or fingerprint, and kept so
-- (the consent ledger reads what was written since its mark: a changed or deleted event's old identifier is in the
-- ledger's rows of that event). Incremental (delete+insert on event_id); on Spark a table rebuilt whole.
-- depends_on: {{ ref('stg_consent__events') }} (the same staging: a selection of the view's descendants includes this)
{{ config(
    materialized=('table' if target.type == 'spark' else 'incremental'),
    unique_key='event_id',
    incremental_strategy='delete+insert',
    tags=['derived'],
    meta={'outflow_layout_column': 'fingerprint'}
) }}

{%- if is_incremental() %}

with fingerprints as (
    select raw.event_id, {{ consent_event_fingerprint('raw') }} as fingerprint
    from {{ source('raw', 'consent_events') }} as raw
),

changed as materialized (
    -- new or changed in place (a fingerprint the stored row does not have), or gone from the raw table
    select coalesce(fingerprints.event_id, stored.event_id) as event_id, fingerprints.fingerprint
    from fingerprints
    full outer join (select event_id, fingerprint from {{ this }} where fingerprint is not null) as stored
        on stored.event_id = fingerprints.event_id
    where fingerprints.fingerprint is distinct from stored.fingerprint
)

select staged.*, {{ outflow_run_stamp() }} as written_at
from ({{ stg_consent_events_select('select event_id from changed where fingerprint is not null', true) }}) as staged
union all
select
    event_id,
    cast(null as varchar) as identifier_type,
    cast(null as varchar) as identifier_value,
    cast(null as varchar) as purpose,
    cast(null as varchar) as channel,
    cast(null as varchar) as status,
    cast(null as varchar) as source,
    cast(null as timestamp) as occurred_at,
    cast(null as varchar) as fingerprint,
    {{ outflow_run_stamp() }} as written_at
from changed
where fingerprint is null

{%- else %}

select staged.*, {{ outflow_run_stamp() }} as written_at
from ({{ stg_consent_events_select(fingerprint=true) }}) as staged

{%- endif %}
