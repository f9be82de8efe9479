-- Trigger activation model for SMS: one row per cart reminder, keyed by a stable idempotency_key; sync it in
-- insert-only mode (activations/syncs/cart_reminder_twilio.yml). A view, so that quiet hours are read when the
-- sync runs: a row whose send_after (the end of quiet hours in the recipient's time zone) is still ahead is
-- held back and stays pending for the next run.
{{ config(materialized='view') }}

select
    idempotency_key,
    trigger_name,
    person_id,
    channel,
    purpose,
    phone,
    first_name,
    country,
    time_zone,
    triggered_at,
    send_after,
    context
from {{ ref('int_triggers__gated') }}
where trigger_name = 'cart_reminder_sms'
  and send_after <= cast({{ outflow_now() }} as timestamp)
