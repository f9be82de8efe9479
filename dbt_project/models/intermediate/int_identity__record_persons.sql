{#- The person behind each source record: its signature's person (int_identity__signature_persons), joined on
    the record's natural columns. A view, computed when read: the evaluation (outflow identity --truth) and
    tests read records by id; the models join int_identity__signature_persons directly. -#}
{{ config(materialized='view') }}

with persons as (
    select * from {{ ref('int_identity__signature_persons') }}
)

select 'crm:' || crm.contact_id as record_id, 'crm' as source, persons.person_id
from {{ ref('stg_crm__contacts') }} as crm
inner join persons on persons.source = 'crm' and persons.record_key = crm.contact_id
union all
select 'order:' || orders.order_id, 'order', persons.person_id
from {{ ref('stg_shop__orders') }} as orders
inner join persons on persons.source = 'order' and persons.record_key = orders.order_id
union all
select 'web:' || web.event_id, 'web', persons.person_id
from {{ ref('stg_web__events') }} as web
inner join persons
    on persons.source = 'web' and {{ outflow_same_signature('persons', 'web', ['cookie_id', 'user_id', 'email_canonical']) }}
union all
select 'email:' || email.event_id, 'email', persons.person_id
from {{ ref('stg_email__events') }} as email
inner join persons on persons.source = 'email' and persons.email_canonical = email.email_canonical
union all
select 'consent:' || consent.event_id, 'consent', persons.person_id
from {{ ref('stg_consent__events') }} as consent
inner join persons
    on persons.source = 'consent'
    and {{ outflow_same_signature('persons', 'consent', ['identifier_type', 'identifier_value']) }}
