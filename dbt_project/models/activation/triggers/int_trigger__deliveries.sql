-- Trigger messages the sync engine actually delivered: a trigger key acknowledged by a destination, from the
-- run log (status ok, op add/change) or the acknowledged state (which outlives the log's retention), mapped
-- back to the person and channel through trigger_history. One row per trigger key, with when it was first
-- delivered. Before the first sync the engine's tables do not exist and this is empty (macro outflow_sync_table).
-- Read-only: only the sync engine writes schema `outflow_sync`.
{{ config(materialized='table') }}

with row_log as (
    {{ outflow_sync_table('sync_row_log', {
        'sync_name': 'varchar', 'key': 'varchar', 'op': 'varchar', 'status': 'varchar', 'logged_at': 'timestamp'
    }) }}
),

acked_state as (
    {{ outflow_sync_table('sync_state', {
        'sync_name': 'varchar', 'key': 'varchar', 'acked_at': 'timestamp'
    }) }}
),

acknowledged as (
    select sync_name, key, logged_at as delivered_at from row_log where status = 'ok' and op in ('add', 'change')
    union all
    select sync_name, key, acked_at from acked_state
)

select
    h.idempotency_key,
    h.person_id,
    h.channel,
    h.trigger_name,
    min(a.delivered_at) as delivered_at,
    {{ outflow_string_agg('a.sync_name', "','", distinct=true) }} as syncs
from acknowledged as a
inner join {{ ref('trigger_history') }} as h on h.idempotency_key = a.key
group by 1, 2, 3, 4
