{#- Distinct pairs of usable identifiers that appeared in the same source record. -#}
with usable as (
    select occurrences.record_id, nodes.identifier_key
    from {{ ref('int_identity__occurrences') }} as occurrences
    inner join {{ ref('int_identity__nodes') }} as nodes
        using (identifier_type, identifier_value)
    where nodes.block_reason is null
),

multi as (
    select record_id from usable group by record_id having count(*) > 1
),

in_multi as (
    select usable.* from usable where usable.record_id in (select record_id from multi)
)

select distinct a.identifier_key as a, b.identifier_key as b
from in_multi as a
inner join in_multi as b
    on a.record_id = b.record_id and a.identifier_key < b.identifier_key
union
select a, b from {{ ref('int_identity__fuzzy_links') }}
