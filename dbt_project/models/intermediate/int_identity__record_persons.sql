{#- The person behind each source record, through any of its identifiers. -#}
select
    occurrences.record_id,
    occurrences.source,
    min(identifiers.person_id) as person_id
from {{ ref('int_identity__occurrences') }} as occurrences
inner join {{ ref('int_identity__identifiers') }} as identifiers
    using (identifier_type, identifier_value)
where identifiers.person_id is not null
group by 1, 2
