-- Journey sends after the same gate as triggers (macro outflow_send_gate), so nothing leaves for a person who may not
-- receive it: erased and globally excluded persons are dropped; a send needs granted consent for its purpose on
-- its channel (unless transactional), no suppression on the channel, and an address for the channel. A person in
-- the journey's control arm (var journey_holdout_pct, macro outflow_held_out) gets no send but transactional ones.
-- Frequency cap: a person gets at most `journey_cap` (default 3) journey sends per channel in any
-- `journey_cap_window_days` (default 7) days; a send over the cap is held back for good. Whether a send is held
-- depends only on the sends emitted before it, so the answer never changes from one sync run to the next.
-- A view over the evaluator's table: each evaluation's sends are visible to the next sync run without a dbt build.
{{ config(materialized='view', pre_hook=outflow_journey_sends_table()) }}

{% set cap = var('journey_cap', 3) %}
{% set cap_days = var('journey_cap_window_days', 7) %}

with gated as (
    select s.*, p.email, p.phone, p.first_name, p.last_name, p.country, p.timezone
    from {{ source('outflow_journeys', 'journey_sends') }} as s
    {{ outflow_send_gate('s') }}
      and not {{ outflow_held_out('journey', 'journey_holdout_pct', 's.journey', 's.person_id', 's.purpose') }}
)

select g.*
from gated as g
where (
    select count(*) from gated as o
    where o.person_id = g.person_id and o.channel = g.channel
      and o.emitted_at > g.emitted_at - interval '{{ cap_days }} days'
      and (o.emitted_at < g.emitted_at or (o.emitted_at = g.emitted_at and o.idempotency_key < g.idempotency_key))
) < {{ cap }}
