{#- The person behind each identity signature, and so behind each of its records: the person of its strongest
    identifier (a CRM id, then a user id, an email, a phone, a cookie; then the smallest value), so a form filled
    on a shared cookie belongs to the email typed in it. Identifiers that identify nobody (blocked, shared) are
    skipped. The strength is ranked once per identifier, so each signature takes the smallest rank of its
    identifiers (a plain aggregate, not a window). Consumers join their records on the signature's natural
    columns (outflow_same_signature: null matches null): web events on (cookie_id, user_id, email_canonical),
    email events on email_canonical, consent events on (identifier_type, identifier_value), CRM contacts and
    orders on record_key (contact_id, order_id). -#}
with ranked as (
    select
        identifier_type,
        identifier_value,
        person_id,
        row_number() over (
            order by
                case identifier_type
                    when 'crm_id' then 1 when 'user_id' then 2 when 'email' then 3 when 'phone' then 4 else 5
                end,
                identifier_type,
                identifier_value
        ) as strength
    from {{ ref('int_identity__identifiers') }}
    where person_id is not null
),

strongest as (
    select occurrences.signature_id, min(ranked.strength) as strength
    from {{ ref('int_identity__signature_occurrences') }} as occurrences
    inner join ranked
        using (identifier_type, identifier_value)
    group by occurrences.signature_id
)

select
    signatures.source,
    signatures.signature_id,
    ranked.person_id,
    signatures.record_key,
    signatures.cookie_id,
    signatures.user_id,
    signatures.email_canonical,
    signatures.identifier_type,
    signatures.identifier_value,
    signatures.records
from strongest
inner join ranked
    using (strength)
inner join {{ ref('int_identity__signatures') }} as signatures
    using (signature_id)
