{#- The identity graph's answer: every identifier, the person it belongs to (null for blocked or shared
    identifiers, which never identify one person), and why. -#}
select
    nodes.identifier_type,
    nodes.identifier_value,
    nodes.identifier_key,
    map.person_id,
    coalesce(map.is_shared, false) as is_shared,
    coalesce(
        nodes.block_reason, map.shared_reason, case when map.is_shared then 'shared by several people' end
    ) as block_reason,
    map.cluster_size,
    nodes.first_seen_at,
    nodes.last_seen_at,
    nodes.occurrences
from {{ ref('int_identity__nodes') }} as nodes
left join {{ source('outflow_identity', 'person_map') }} as map
    using (identifier_key)
