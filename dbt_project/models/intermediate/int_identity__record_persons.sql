{#- The person behind each source record: the person of its strongest identifier (a CRM id, then a user id, an
    email, a phone, a cookie; then the smallest value), so a form filled on a shared cookie belongs to the email
    typed in it. Identifiers that identify nobody (blocked, shared) are skipped. The strength is ranked once per
    identifier, so each record takes the smallest rank of its identifiers (a plain aggregate, not a window). -#}
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
    select occurrences.record_id, occurrences.source, min(ranked.strength) as strength
    from {{ ref('int_identity__occurrences') }} as occurrences
    inner join ranked
        using (identifier_type, identifier_value)
    group by occurrences.record_id, occurrences.source
)

select strongest.record_id, strongest.source, ranked.person_id
from strongest
inner join ranked
    using (strength)
