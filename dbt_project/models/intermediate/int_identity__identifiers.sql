{#- The identity graph's answer: every identifier, the person it belongs to (null for blocked or shared
    identifiers, which never identify one person), and why. The person map keeps the last row of an identifier
    that left the graph (its id stays issued), so an identifier blocked since it was resolved (say an email now
    seen with too many strong identifiers) takes nothing from it: null, as a build from scratch gives. -#}
select
    nodes.identifier_type,
    nodes.identifier_value,
    nodes.identifier_key,
    case when nodes.block_reason is null then map.person_id end as person_id,
    coalesce(nodes.block_reason is null and map.is_shared, false) as is_shared,
    coalesce(
        nodes.block_reason, map.shared_reason, case when map.is_shared then 'shared by several people' end
    ) as block_reason,
    case when nodes.block_reason is null then map.cluster_size end as cluster_size,
    nodes.first_seen_at,
    nodes.last_seen_at,
    nodes.occurrences
from {{ ref('int_identity__nodes') }} as nodes
left join {{ source('outflow_identity', 'person_map') }} as map
    using (identifier_key)
