{#- Every distinct raw email with its address (lower case, unwrapped), its matching form, and the reason it
    was rejected, as the normalization step wrote them (source outflow_identity.emails). -#}
select
    emails.email_raw,
    lookup.email_address,
    lookup.email_canonical,
    lookup.reject_reason
from {{ ref('stg_emails__distinct') }} as emails
left join {{ source('outflow_identity', 'emails') }} as lookup
    on lookup.email_raw = emails.email_raw
