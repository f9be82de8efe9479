{#- The person behind each source record: the person of its strongest identifier (a CRM id, then a user id, an
    email, a phone, a cookie; then the smallest value), so a form filled on a shared cookie belongs to the email
    typed in it. Identifiers that identify nobody (blocked, shared) are skipped. -#}
with ranked as (
    select
        occurrences.record_id,
        occurrences.source,
        identifiers.person_id,
        row_number() over (
            partition by occurrences.record_id
            order by
                case occurrences.identifier_type
                    when 'crm_id' then 1 when 'user_id' then 2 when 'email' then 3 when 'phone' then 4 else 5
                end,
                occurrences.identifier_type,
                occurrences.identifier_value
        ) as strength
    from {{ ref('int_identity__occurrences') }} as occurrences
    inner join {{ ref('int_identity__identifiers') }} as identifiers
        using (identifier_type, identifier_value)
    where identifiers.person_id is not null
)

select record_id, source, person_id from ranked where strength = 1
