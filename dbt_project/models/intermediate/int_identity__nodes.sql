{#- One row per distinct identifier, with the reason it is blocked from identity matching, if any:
    a known junk value (seed identity_blocklist) or a role address shared by a whole company. -#}
with occurrences as (
    select * from {{ ref('int_identity__occurrences') }}
),

nodes as (
    select
        identifier_type,
        identifier_value,
        min(observed_at) as first_seen_at,
        max(observed_at) as last_seen_at,
        count(*) as occurrences
    from occurrences
    group by 1, 2
)

select
    nodes.*,
    identifier_type || ':' || identifier_value as identifier_key,
    case
        when blocklist.identifier_value is not null then blocklist.reason
        when identifier_type = 'email'
            and {{ outflow_regex_full_match("split_part(nodes.identifier_value, '@', 1)", var('role_account_pattern')) }}
            then 'role account'
    end as block_reason
from nodes
left join (
    -- an empty value in the seed is the text 'null' (see the seed's description)
    select identifier_type, coalesce(identifier_value, 'null') as identifier_value, reason
    from {{ ref('identity_blocklist') }}
) as blocklist
    using (identifier_type, identifier_value)
