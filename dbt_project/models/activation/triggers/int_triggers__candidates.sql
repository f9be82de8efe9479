-- Every trigger row of every trigger, before the gate, the frequency cap and quiet hours.
{{ config(materialized='table') }}

select * from {{ ref('int_trigger__cart_abandoned') }}
union all
select * from {{ ref('int_trigger__lead_score_threshold') }}
union all
select * from {{ ref('int_trigger__trial_ending') }}
union all
select * from {{ ref('int_trigger__reengagement') }}
union all
select * from {{ ref('int_trigger__cart_reminder_sms') }}
