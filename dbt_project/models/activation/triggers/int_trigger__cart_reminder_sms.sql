-- Cart reminder by SMS: an abandoned cart (int_trigger__cart_abandoned) still not followed by an order
-- `cart_sms_after_hours` (default 20) hours after the email reminder fired. Channel sms: the gate sends it only
-- to people with SMS consent for marketing and a phone number.
{{ config(materialized='table') }}

{% set after_hours = var('cart_sms_after_hours', 20) %}

select
    'cart_reminder_sms' as trigger_name,
    md5('cart_reminder_sms|' || c.idempotency_key) as idempotency_key,
    c.person_id,
    'sms' as channel,
    'marketing' as purpose,
    2 as priority,
    c.triggered_at + interval '{{ after_hours }} hours' as triggered_at,
    c.context
from {{ ref('int_trigger__cart_abandoned') }} as c
where c.triggered_at + interval '{{ after_hours }} hours' <= cast({{ outflow_now() }} as timestamp)
