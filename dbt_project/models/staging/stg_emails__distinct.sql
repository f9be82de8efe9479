{#- Every distinct raw email of every source (erasure requests and the exclusion list included, so that they match
    the identity graph's values exactly): the normalization step (outflow/phones.py) normalizes the ones it
    has not seen before with outflow.normalize.email into the source outflow_identity.emails. -#}
select distinct email_raw
from (
    select email as email_raw from {{ source('raw', 'crm_contacts') }}
    union all
    select email from {{ source('raw', 'web_events') }}
    union all
    select email from {{ source('raw', 'orders') }}
    union all
    select email from {{ source('raw', 'email_events') }}
    union all
    select identifier from {{ source('raw', 'consent_events') }} where lower(identifier_type) = 'email'
    union all
    select identifier from {{ source('raw', 'erasure_requests') }}
    where lower(identifier_type) = 'email' and identifier not like 'erased:sha256:%'  -- processed: only a hash is left
    union all
    select identifier_value from {{ ref('global_exclusions') }} where lower(trim(identifier_type)) = 'email'
) as emails
where email_raw is not null
