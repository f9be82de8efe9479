-- Every trigger row that passes the send gate (macro outflow_send_gate), with its measurement arm: 'holdout' for
-- the trigger's control arm (var trigger_holdout_pct, macro outflow_held_out: a stable hash of trigger and person;
-- transactional triggers are never held out), else 'treated'. int_triggers__gated keeps only the treated rows,
-- so a held-out person is never sent; trigger_exposure_history keeps both arms for fct_campaign_conversions.
-- Gating first means both arms are people the trigger could have reached.
{{ config(materialized='table') }}

select
    c.*,
    p.email,
    p.phone,
    p.first_name,
    p.last_name,
    p.country,
    p.timezone,
    {{ outflow_holdout_pct('trigger_holdout_pct', 'c.trigger_name') }} as holdout_pct,
    case
        when {{ outflow_held_out('trigger', 'trigger_holdout_pct', 'c.trigger_name', 'c.person_id', 'c.purpose') }}
            then 'holdout'
        else 'treated'
    end as arm
from {{ ref('int_triggers__candidates') }} as c
{{ outflow_send_gate('c') }}
