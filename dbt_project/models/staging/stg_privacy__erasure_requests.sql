{#- Erasure requests with the identifier normalized exactly as the identity graph normalizes it (the email and
    phone lookups of the normalization step), so that a request written "Name <x@y>" or "(555) 555-0100" finds
    its person. An email the lookup rejected keeps a null identifier_value (its reason is in
    identity_rejected_values), and `outflow privacy erase` names the request. -#}
with phones as (
    select * from {{ ref('stg_phones__e164') }} where source = 'erasure'
),

emails as (
    select email_raw, email_canonical, reject_reason from {{ source('outflow_identity', 'emails') }}
)

select
    requests.request_id,
    lower(requests.identifier_type) as identifier_type,
    case lower(requests.identifier_type)
        -- an email loaded since the normalization step last ran (a dbt run without it) takes the same rules in
        -- SQL for a plain address, so that an erasure never waits for the step; a rejected one stays null
        when 'email' then coalesce(
            emails.email_canonical,
            case when emails.reject_reason is null then {{ canonical_email('requests.identifier') }} end
        )
        when 'phone' then coalesce(phones.phone_e164, requests.identifier)
    end as identifier_value,
    requests.requested_at
from {{ source('raw', 'erasure_requests') }} as requests
left join phones
    on lower(requests.identifier_type) = 'phone'
    and phones.phone_raw = requests.identifier
left join emails
    on lower(requests.identifier_type) = 'email'
    and emails.email_raw = requests.identifier
    and requests.identifier not like 'erased:sha256:%'  -- not a raw email (stg_emails__distinct leaves it out)
