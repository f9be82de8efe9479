{#- Every identifier seen in every source record, normalized: the per-record form of
    int_identity__signature_occurrences, which the graph is built on. A view, computed when read (the evaluation,
    outflow/identity_eval.py, and tests read it). -#}
{{ config(materialized='view') }}

with crm as (
    select * from {{ ref('stg_crm__contacts') }}
),

web as (
    select * from {{ ref('stg_web__events') }}
),

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

occurrences as (
    select 'crm:' || contact_id as record_id, 'crm' as source, 'crm_id' as identifier_type, contact_id as identifier_value, updated_at as observed_at from crm
    union all
    select 'crm:' || contact_id, 'crm', 'email', email_canonical, updated_at from crm where email_canonical is not null
    union all
    select 'crm:' || contact_id, 'crm', 'phone', {{ phone_identifier('phone_e164', 'phone_extension') }}, updated_at from crm where phone_e164 is not null
    union all
    select 'web:' || event_id, 'web', 'cookie', cookie_id, occurred_at from web where cookie_id is not null
    union all
    select 'web:' || event_id, 'web', 'user_id', user_id, occurred_at from web where user_id is not null
    union all
    select 'web:' || event_id, 'web', 'email', email_canonical, occurred_at from web where email_canonical is not null
    union all
    select 'order:' || order_id, 'order', 'email', email_canonical, ordered_at from orders where email_canonical is not null
    union all
    select 'order:' || order_id, 'order', 'phone', {{ phone_identifier('phone_e164', 'phone_extension') }}, ordered_at from orders where phone_e164 is not null
    union all
    select 'order:' || order_id, 'order', 'user_id', user_id, ordered_at from orders where user_id is not null
    union all
    select 'email:' || event_id, 'email', 'email', email_canonical, occurred_at
    from {{ ref('stg_email__events') }} where email_canonical is not null
    union all
    select 'consent:' || event_id, 'consent', identifier_type, identifier_value, occurred_at
    from {{ ref('stg_consent__events') }} where identifier_value is not null
)

select * from occurrences
